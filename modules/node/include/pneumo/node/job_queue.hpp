// The node's persistent job queue (SQLite, WAL, synchronous=FULL): one row per received SOP
// instance, moving queued -> running -> sending -> sent, or to failed with a reason.
//
//   auto q = pneumo::JobQueue::open(storage / "queue.db");
//   q->recover();                                // running -> queued after a crash
//   q->enqueue({"1.2.3.4", "1.2.3", "images/1.2.3.4.dcm", "2024-...Z"});
//   auto jobs = q->claim(/*max=*/4);             // queued -> running, oldest first
//   q->processed("1.2.3.4", result_json);        // running -> sending; processed_count += 1
//   auto due = q->due_for_sending(now_s);
//   q->sent("1.2.3.4");                          // sending -> sent
//   q->send_failed("1.2.3.4", now_s + backoff, "association rejected");
//
// Exactly once: a job's outputs are committed (processed()) in one transaction with its state
// change; a kill -9 between claim() and processed() leaves it "running", and recover() puts it
// back in the queue, so it is computed again and committed once. Sending uses deterministic UIDs,
// so a re-send after a crash between the PACS's acknowledgement and sent() replaces, never
// duplicates. Thread-safety: calls are serialised internally.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct Job {
  std::string sop_uid;
  std::string study_uid;
  std::string file;         // relative to the storage folder
  std::string received_at;  // ISO 8601 UTC
  std::string state;        // queued, running, sending, sent, failed
  int processed_count = 0;  // times processed() committed (1 after a normal run)
  int send_attempts = 0;
  std::string result;       // JSON text given to processed()
  std::string error;
};

class JobQueue {
 public:
  static Result<JobQueue> open(const std::filesystem::path& path);
  ~JobQueue();
  JobQueue(JobQueue&&) noexcept;
  JobQueue& operator=(JobQueue&&) noexcept;

  // Returns how many jobs went from running back to queued.
  Result<int> recover();
  // false when the SOP instance was already known (the row is kept as it is).
  Result<bool> enqueue(const Job& job);
  Result<std::vector<Job>> claim(int max_jobs);
  Status processed(const std::string& sop_uid, const std::string& result_json);
  Status failed(const std::string& sop_uid, const std::string& reason);
  Result<std::vector<Job>> due_for_sending(double now_s, int max_jobs = 16);
  Status sent(const std::string& sop_uid);
  Status send_failed(const std::string& sop_uid, double next_attempt_s, const std::string& reason, bool give_up);
  Result<std::vector<Job>> all() const;
  Result<int> count(const std::string& state) const;

 private:
  JobQueue();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pneumo
