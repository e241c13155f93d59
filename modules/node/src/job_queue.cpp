// JobQueue over SQLite: one table, each state change one statement (its own transaction), claim
// in a BEGIN IMMEDIATE transaction.
#include "pneumo/node/job_queue.hpp"
#include "pneumo/worklist/sqlite_file.hpp"

#include <sqlite3.h>

#include <mutex>

namespace pneumo {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  sop_uid         TEXT PRIMARY KEY,
  study_uid       TEXT NOT NULL,
  file            TEXT NOT NULL,
  received_at     TEXT NOT NULL,
  state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'sending', 'sent', 'failed')),
  processed_count INTEGER NOT NULL DEFAULT 0,
  send_attempts   INTEGER NOT NULL DEFAULT 0,
  next_send_at    REAL NOT NULL DEFAULT 0,
  result          TEXT NOT NULL DEFAULT '',
  error           TEXT NOT NULL DEFAULT '',
  seq             INTEGER NOT NULL DEFAULT 0,
  received_s      REAL,  -- Unix time (s, ms resolution) of enqueue, and of sent(): for latency figures
  sent_s          REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
)sql";

constexpr const char* kColumns =
    "sop_uid, study_uid, file, received_at, state, processed_count, send_attempts, result, error";

std::string text(sqlite3_stmt* s, int i) {
  const unsigned char* t = sqlite3_column_text(s, i);
  return t ? reinterpret_cast<const char*>(t) : "";
}

Job row(sqlite3_stmt* s) {
  Job j;
  j.sop_uid = text(s, 0);
  j.study_uid = text(s, 1);
  j.file = text(s, 2);
  j.received_at = text(s, 3);
  j.state = text(s, 4);
  j.processed_count = sqlite3_column_int(s, 5);
  j.send_attempts = sqlite3_column_int(s, 6);
  j.result = text(s, 7);
  j.error = text(s, 8);
  return j;
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() {
    if (s) sqlite3_finalize(s);
  }
};

}  // namespace

struct JobQueue::Impl {
  explicit Impl(SqliteFile f) : file(std::move(f)), db(file.db()) {}
  SqliteFile file;
  sqlite3* db;
  mutable std::mutex mutex;
  Error error(const std::string& what) const { return file.error(what); }
  Status exec(const char* sql, const std::string& what) const { return file.exec(sql, what); }
  // Prepares, binds texts (and doubles given as the `reals` list after the texts), steps once.
  Result<int> change(const char* sql, const std::string& what, const std::vector<std::string>& texts,
                     const std::vector<double>& reals = {}) const {
    Stmt st;
    if (sqlite3_prepare_v2(db, sql, -1, &st.s, nullptr) != SQLITE_OK) return error(what);
    int i = 1;
    for (const auto& t : texts) sqlite3_bind_text(st.s, i++, t.c_str(), -1, SQLITE_TRANSIENT);
    for (double r : reals) sqlite3_bind_double(st.s, i++, r);
    if (sqlite3_step(st.s) != SQLITE_DONE) return error(what);
    return sqlite3_changes(db);
  }
  Result<std::vector<Job>> select(const std::string& sql, const std::string& what, const std::vector<double>& reals) const {
    Stmt st;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st.s, nullptr) != SQLITE_OK) return error(what);
    int i = 1;
    for (double r : reals) sqlite3_bind_double(st.s, i++, r);
    std::vector<Job> out;
    int rc = 0;
    while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) out.push_back(row(st.s));
    if (rc != SQLITE_DONE) return error(what);
    return out;
  }
};

JobQueue::JobQueue() = default;
JobQueue::~JobQueue() = default;
JobQueue::JobQueue(JobQueue&&) noexcept = default;
JobQueue& JobQueue::operator=(JobQueue&&) noexcept = default;

Result<JobQueue> JobQueue::open(const std::filesystem::path& path) {
  auto file = SqliteFile::open(path, kSchema, "the job queue");
  if (!file) return file.error();
  JobQueue q;
  q.impl_ = std::make_unique<Impl>(std::move(file.value()));
  return q;
}

Result<int> JobQueue::recover() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->change("UPDATE jobs SET state = 'queued' WHERE state = 'running'", "cannot recover running jobs", {});
}

Result<bool> JobQueue::enqueue(const Job& job) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto n = impl_->change(
      "INSERT OR IGNORE INTO jobs (sop_uid, study_uid, file, received_at, state, seq, received_s) "
      "VALUES (?1, ?2, ?3, ?4, 'queued', (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), "
      "(julianday('now') - 2440587.5) * 86400.0)",
      "cannot enqueue a job", {job.sop_uid, job.study_uid, job.file, job.received_at});
  if (!n) return n.error();
  return *n == 1;
}

Result<std::vector<Job>> JobQueue::claim(int max_jobs) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (auto st = impl_->exec("BEGIN IMMEDIATE", "cannot start a claim"); !st) return st.error();
  auto jobs = impl_->select(std::string("SELECT ") + kColumns + " FROM jobs WHERE state = 'queued' ORDER BY seq LIMIT ?1",
                            "cannot list queued jobs", {static_cast<double>(max_jobs)});
  if (!jobs) {
    (void)impl_->exec("ROLLBACK", "rollback");
    return jobs.error();
  }
  for (auto& j : *jobs) {
    auto n = impl_->change("UPDATE jobs SET state = 'running' WHERE sop_uid = ?1", "cannot claim a job", {j.sop_uid});
    if (!n) {
      (void)impl_->exec("ROLLBACK", "rollback");
      return n.error();
    }
    j.state = "running";
  }
  if (auto st = impl_->exec("COMMIT", "cannot commit a claim"); !st) return st.error();
  return jobs;
}

Status JobQueue::processed(const std::string& sop_uid, const std::string& result_json) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto n = impl_->change(
      "UPDATE jobs SET state = 'sending', result = ?2, processed_count = processed_count + 1, next_send_at = 0 "
      "WHERE sop_uid = ?1 AND state = 'running'",
      "cannot record a result", {sop_uid, result_json});
  if (!n) return n.error();
  if (*n != 1) return fail(ErrorCode::kInternal, impl_->file.name() + ": job " + sop_uid + " was not running");
  return ok_status();
}

Status JobQueue::failed(const std::string& sop_uid, const std::string& reason) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto n = impl_->change("UPDATE jobs SET state = 'failed', error = ?2 WHERE sop_uid = ?1", "cannot record a failure",
                         {sop_uid, reason});
  if (!n) return n.error();
  return ok_status();
}

Result<std::vector<Job>> JobQueue::due_for_sending(double now_s, int max_jobs) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->select(std::string("SELECT ") + kColumns +
                           " FROM jobs WHERE state = 'sending' AND next_send_at <= ?1 ORDER BY seq LIMIT ?2",
                       "cannot list jobs to send", {now_s, static_cast<double>(max_jobs)});
}

Status JobQueue::sent(const std::string& sop_uid) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto n = impl_->change("UPDATE jobs SET state = 'sent', send_attempts = send_attempts + 1, error = '', "
                         "sent_s = (julianday('now') - 2440587.5) * 86400.0 "
                         "WHERE sop_uid = ?1",
                         "cannot record a sent job", {sop_uid});
  if (!n) return n.error();
  return ok_status();
}

Status JobQueue::send_failed(const std::string& sop_uid, double next_attempt_s, const std::string& reason,
                             bool give_up) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto n = impl_->change(give_up ? "UPDATE jobs SET state = 'failed', send_attempts = send_attempts + 1, error = ?2, "
                                   "next_send_at = ?3 WHERE sop_uid = ?1"
                                 : "UPDATE jobs SET send_attempts = send_attempts + 1, error = ?2, next_send_at = ?3 "
                                   "WHERE sop_uid = ?1",
                         "cannot record a send failure", {sop_uid, reason}, {next_attempt_s});
  if (!n) return n.error();
  return ok_status();
}

Result<std::vector<Job>> JobQueue::all() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->select(std::string("SELECT ") + kColumns + " FROM jobs ORDER BY seq", "cannot list jobs", {});
}

Result<int> JobQueue::count(const std::string& state) const {
  auto jobs = all();
  if (!jobs) return jobs.error();
  int n = 0;
  for (const auto& j : *jobs) n += j.state == state ? 1 : 0;
  return n;
}

}  // namespace pneumo
