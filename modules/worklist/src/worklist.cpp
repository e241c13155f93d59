// Worklist over SQLite: an `images` table and one GROUP BY query for the per-study view.
#include "pneumo/worklist/worklist.hpp"
#include "pneumo/worklist/sqlite_file.hpp"

#include <sqlite3.h>

#include <fmt/format.h>

#include <cmath>
#include <mutex>

namespace pneumo {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS images (
  sop_uid      TEXT PRIMARY KEY,
  study_uid    TEXT NOT NULL,
  received_at  TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
  probability  REAL,
  positive     INTEGER,
  area_cm2     REAL,
  side         TEXT,
  error        TEXT,
  updated_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE INDEX IF NOT EXISTS images_study ON images (study_uid);
)sql";

// Per study, in priority order (see the header).
constexpr const char* kStudiesQuery = R"sql(
SELECT study_uid,
       MIN(received_at),
       CASE WHEN SUM(status = 'pending') > 0 THEN 'pending'
            WHEN SUM(status = 'done') > 0 THEN 'done' ELSE 'failed' END AS st,
       COUNT(*),
       MAX(probability),
       MAX(positive),
       MAX(area_cm2),
       (SELECT side FROM images j WHERE j.study_uid = i.study_uid AND j.status = 'done'
          ORDER BY COALESCE(j.area_cm2, 0) DESC, j.received_at LIMIT 1),
       (SELECT error FROM images j WHERE j.study_uid = i.study_uid AND j.status = 'failed'
          ORDER BY j.received_at LIMIT 1),
       (SELECT group_concat(sop_uid, ' ') FROM
          (SELECT sop_uid FROM images j WHERE j.study_uid = i.study_uid ORDER BY j.received_at, j.sop_uid))
FROM images i
GROUP BY study_uid
ORDER BY COALESCE(MAX(positive), 0) DESC,
         CASE WHEN COALESCE(MAX(positive), 0) = 1 THEN COALESCE(MAX(area_cm2), 0) ELSE 0 END DESC,
         CASE st WHEN 'pending' THEN 0 WHEN 'done' THEN 1 ELSE 2 END,
         MIN(received_at), study_uid
)sql";

std::optional<double> column_double(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_double(s, i);
}
std::string column_text(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

}  // namespace

struct Worklist::Impl {
  explicit Impl(SqliteFile f) : file(std::move(f)), db(file.db()) {}
  SqliteFile file;
  sqlite3* db;
  mutable std::mutex mutex;
  Error error(const std::string& what) const { return file.error(what); }
  Status exec(const char* sql, const std::string& what) { return file.exec(sql, what); }
  // One statement with text/double/null bindings, run to completion (a single statement is its
  // own transaction in SQLite).
  template <typename Bind>
  Status run(const char* sql, const std::string& what, Bind&& bind) {
    std::lock_guard<std::mutex> lock(mutex);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) return error(what);
    bind(s);
    const int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return error(what);
    return ok_status();
  }
};

Worklist::Worklist() = default;
Worklist::~Worklist() = default;
Worklist::Worklist(Worklist&&) noexcept = default;
Worklist& Worklist::operator=(Worklist&&) noexcept = default;

Result<Worklist> Worklist::open(const std::filesystem::path& path) {
  auto file = SqliteFile::open(path, kSchema, "the worklist database (is it one?)");
  if (!file) return file.error();
  Worklist w;
  w.impl_ = std::make_unique<Impl>(std::move(file.value()));
  return w;
}

Status Worklist::record_received(const WorklistReceived& r) {
  return impl_->run(
      "INSERT OR IGNORE INTO images (sop_uid, study_uid, received_at, status) VALUES (?1, ?2, ?3, 'pending')",
      "cannot record a received image", [&](sqlite3_stmt* s) {
        sqlite3_bind_text(s, 1, r.sop_uid.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, r.study_uid.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 3, r.received_at.c_str(), -1, SQLITE_TRANSIENT);
      });
}

Status Worklist::record_result(const std::string& sop_uid, const WorklistResult& r) {
  return impl_->run(
      "UPDATE images SET status = 'done', probability = ?2, positive = ?3, area_cm2 = ?4, side = ?5, error = NULL, "
      "updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE sop_uid = ?1",
      "cannot record a result", [&](sqlite3_stmt* s) {
        sqlite3_bind_text(s, 1, sop_uid.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(s, 2, r.probability);
        sqlite3_bind_int(s, 3, r.positive ? 1 : 0);
        if (r.area_cm2) sqlite3_bind_double(s, 4, *r.area_cm2);
        else sqlite3_bind_null(s, 4);
        sqlite3_bind_text(s, 5, r.side.c_str(), -1, SQLITE_TRANSIENT);
      });
}

Status Worklist::record_failure(const std::string& sop_uid, const std::string& reason) {
  return impl_->run(
      "UPDATE images SET status = 'failed', error = ?2, updated_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') "
      "WHERE sop_uid = ?1",
      "cannot record a failure", [&](sqlite3_stmt* s) {
        sqlite3_bind_text(s, 1, sop_uid.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, reason.c_str(), -1, SQLITE_TRANSIENT);
      });
}

Result<std::vector<WorklistStudy>> Worklist::studies() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(impl_->db, kStudiesQuery, -1, &s, nullptr) != SQLITE_OK) {
    return impl_->error("cannot query the worklist");
  }
  std::vector<WorklistStudy> out;
  int rc = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    WorklistStudy w;
    w.rank = static_cast<int>(out.size()) + 1;
    w.study_uid = column_text(s, 0);
    w.received_at = column_text(s, 1);
    w.status = column_text(s, 2);
    w.images = sqlite3_column_int(s, 3);
    w.probability = column_double(s, 4);
    if (sqlite3_column_type(s, 5) != SQLITE_NULL) w.suspected = sqlite3_column_int(s, 5) != 0;
    w.area_cm2 = column_double(s, 6);
    w.side = column_text(s, 7);
    w.error = column_text(s, 8);
    std::string sops = column_text(s, 9);
    for (std::size_t pos = 0; pos < sops.size();) {
      const std::size_t sp = sops.find(' ', pos);
      const std::size_t end = sp == std::string::npos ? sops.size() : sp;
      if (end > pos) w.sop_uids.push_back(sops.substr(pos, end - pos));
      pos = end + 1;
    }
    out.push_back(std::move(w));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return impl_->error("cannot read the worklist");
  return out;
}

nlohmann::json worklist_to_json(const std::vector<WorklistStudy>& studies) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& w : studies) {
    nlohmann::json j;
    j["rank"] = w.rank;
    j["study_uid"] = w.study_uid;
    j["received_at"] = w.received_at;
    j["status"] = w.status;
    j["images"] = w.images;
    j["probability"] = w.probability ? nlohmann::json(std::round(*w.probability * 1e6) / 1e6) : nlohmann::json();
    j["suspected"] = w.suspected ? nlohmann::json(*w.suspected) : nlohmann::json();
    j["area_cm2"] = w.area_cm2 ? nlohmann::json(std::round(*w.area_cm2 * 100) / 100) : nlohmann::json();
    j["side"] = w.side.empty() ? nlohmann::json() : nlohmann::json(w.side);
    j["error"] = w.error.empty() ? nlohmann::json() : nlohmann::json(w.error);
    j["sop_uids"] = w.sop_uids;
    arr.push_back(std::move(j));
  }
  return {{"studies", arr}};
}

std::string worklist_to_table(const std::vector<WorklistStudy>& studies) {
  std::string out = fmt::format("{:>4}  {:<9} {:<8} {:>6} {:>9}  {:<12} {:<20}  {}\n", "rank", "suspected", "status",
                                "p", "area_cm2", "side", "received_at", "study_uid");
  for (const auto& w : studies) {
    out += fmt::format("{:>4}  {:<9} {:<8} {:>6} {:>9}  {:<12} {:<20}  {}{}\n", w.rank,
                       w.suspected ? (*w.suspected ? "YES" : "no") : "-", w.status,
                       w.probability ? fmt::format("{:.3f}", *w.probability) : "-",
                       w.area_cm2 ? fmt::format("{:.1f}", *w.area_cm2) : "-", w.side.empty() ? "-" : w.side,
                       w.received_at, w.study_uid, w.error.empty() ? "" : "  (" + w.error + ")");
  }
  return out;
}

}  // namespace pneumo
