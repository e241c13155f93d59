// Internal to the node module: the state the SCP workers, model workers and sender share, and
// the DCMTK-facing pieces (receiving and sending). DCMTK types stay in the .cpp files.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "pneumo/node/job_queue.hpp"
#include "pneumo/node/node.hpp"
#include "pneumo/worklist/worklist.hpp"

namespace pneumo::node_detail {

struct Shared {
  NodeConfig config;
  JobQueue* queue = nullptr;
  Worklist* worklist = nullptr;
  std::mutex mutex;
  std::condition_variable work_ready;   // a job was enqueued
  std::condition_variable send_ready;   // a job was processed
  void wake_workers() { work_ready.notify_all(); }
  void wake_sender() { send_ready.notify_all(); }
};

// ISO 8601 UTC now, "2024-01-02T03:04:05Z".
std::string utc_now();
double now_seconds();  // steady clock, seconds

// Runs the C-ECHO/C-STORE SCP pool until `stop`; blocks. `shared` must outlive it.
Status run_scp_pool(Shared& shared, const std::atomic<bool>& stop);

// One association to `peer`, C-STORE of each file. Per file: empty string = stored, else why not.
// Returns an error when no association could be made (every file then unsent).
Result<std::vector<std::string>> send_files(const NodeConfig& config, const DicomPeer& peer,
                                            const std::vector<std::filesystem::path>& files);

}  // namespace pneumo::node_detail
