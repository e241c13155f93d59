// The triage worklist: an embedded SQLite database with one row per received image and a
// per-study view in priority order. No patient identifiers are stored: studies and images are
// keyed by their Study / SOP Instance UIDs.
//
//   auto wl = pneumo::Worklist::open("node/worklist.db");        // creates the schema
//   wl->record_received({"1.2.3", "1.2.3.4", "2024-01-02T03:04:05Z"});
//   wl->record_result("1.2.3.4", {0.93, true, 41.2, "right"});
//   auto studies = wl->studies();                                // priority order
//   std::puts(pneumo::worklist_to_json(*studies).dump(2).c_str());
//
// Priority: studies with a suspected pneumothorax (any image positive) first, larger area
// first, then oldest received first; then studies still pending (oldest first); then studies
// with no finding (oldest first); failed studies last. A study's probability and area are the
// maximum over its images; its status is "pending" while any image is pending, else "done"
// when any image has a result, else "failed".
//
// Every write is one transaction (SQLite, WAL journal, synchronous=FULL): a kill -9 leaves the
// file as of the last committed write. Several processes may open the same file (SQLite locks;
// writers wait up to 5 s for a busy database).
// Thread-safety: one Worklist object may be used from several threads (calls are serialised).
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct WorklistReceived {
  std::string study_uid;
  std::string sop_uid;
  std::string received_at;  // ISO 8601 UTC, "2024-01-02T03:04:05Z" (sorts as text)
};

struct WorklistResult {
  double probability = 0;
  bool positive = false;
  std::optional<double> area_cm2;
  std::string side;  // "none", "right", "left", "bilateral", "undetermined"
};

struct WorklistStudy {
  int rank = 0;  // 1 = first to read
  std::string study_uid;
  std::string received_at;  // oldest image's
  std::string status;       // "pending", "done", "failed"
  int images = 0;
  std::optional<double> probability;  // max over images with a result
  std::optional<bool> suspected;      // any image positive; nullopt while nothing is known
  std::optional<double> area_cm2;     // max
  std::string side;                   // of the image with the largest area ("" when none)
  std::string error;                  // the first failure's reason, when failed
  std::vector<std::string> sop_uids;  // the study's images, in order received
};

class Worklist {
 public:
  // Opens (creating file and schema when absent). kIo when it cannot, naming the file.
  static Result<Worklist> open(const std::filesystem::path& path);
  ~Worklist();
  Worklist(Worklist&&) noexcept;
  Worklist& operator=(Worklist&&) noexcept;

  // An image arrived (a repeated SOP UID keeps its first receipt).
  Status record_received(const WorklistReceived& r);
  // Its result (status "done") or why it failed (status "failed").
  Status record_result(const std::string& sop_uid, const WorklistResult& r);
  Status record_failure(const std::string& sop_uid, const std::string& reason);

  Result<std::vector<WorklistStudy>> studies() const;

 private:
  Worklist();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// {"studies": [{rank, study_uid, received_at, status, images, probability, suspected, area_cm2,
// side, error, sop_uids}]}; absent values are null.
nlohmann::json worklist_to_json(const std::vector<WorklistStudy>& studies);
// A fixed-width table, one line per study, header first.
std::string worklist_to_table(const std::vector<WorklistStudy>& studies);

}  // namespace pneumo
