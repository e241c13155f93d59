#include "pneumo/worklist/sqlite_file.hpp"

#include <sqlite3.h>

#include <utility>

namespace pneumo {

Result<SqliteFile> SqliteFile::open(const std::filesystem::path& path, const char* schema, const std::string& what) {
  SqliteFile f;
  f.name_ = path.string();
  if (sqlite3_open_v2(path.c_str(), &f.db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return f.error("cannot open " + what);
  }
  sqlite3_busy_timeout(f.db_, 5000);
  if (auto st = f.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", "cannot set the journal mode"); !st) {
    return st.error();
  }
  if (auto st = f.exec(schema, "cannot create the tables of " + what); !st) return st.error();
  return f;
}

SqliteFile::~SqliteFile() {
  if (db_) sqlite3_close(db_);
}

SqliteFile::SqliteFile(SqliteFile&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), name_(std::move(other.name_)) {}

SqliteFile& SqliteFile::operator=(SqliteFile&& other) noexcept {
  if (this != &other) {
    if (db_) sqlite3_close(db_);
    db_ = std::exchange(other.db_, nullptr);
    name_ = std::move(other.name_);
  }
  return *this;
}

Error SqliteFile::error(const std::string& what) const {
  return Error{ErrorCode::kIo, name_ + ": " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "no database")};
}

Status SqliteFile::exec(const char* sql, const std::string& what) const {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "?";
    sqlite3_free(msg);
    return fail(ErrorCode::kIo, name_ + ": " + what + ": " + m);
  }
  return ok_status();
}

}  // namespace pneumo
