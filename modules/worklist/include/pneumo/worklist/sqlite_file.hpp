// A durable SQLite database file, as the worklist and the node's job queue keep them: opened (or
// created) with a WAL journal and synchronous=FULL (a committed write survives kill -9 and power
// loss), a 5 s busy timeout (several processes may share the file), and the caller's schema.
//
//   auto file = pneumo::SqliteFile::open("node/queue.db", kSchema, "the job queue");
//   if (!file) return file.error();        // "node/queue.db: cannot open the job queue: ..."
//   sqlite3* db = file->db();              // for prepared statements (include <sqlite3.h>)
//
// Thread-safety: the connection is opened in serialized mode (SQLITE_OPEN_FULLMUTEX); callers that
// need several statements to be atomic still lock around them.
#pragma once

#include <filesystem>
#include <string>

#include "pneumo/core/result.hpp"

struct sqlite3;

namespace pneumo {

class SqliteFile {
 public:
  // `what` names the database in messages ("the job queue", "the worklist database").
  static Result<SqliteFile> open(const std::filesystem::path& path, const char* schema, const std::string& what);
  ~SqliteFile();
  SqliteFile(SqliteFile&& other) noexcept;
  SqliteFile& operator=(SqliteFile&& other) noexcept;
  SqliteFile(const SqliteFile&) = delete;
  SqliteFile& operator=(const SqliteFile&) = delete;

  sqlite3* db() const { return db_; }
  const std::string& name() const { return name_; }
  // kIo: "<file>: <what>: <SQLite's last message>".
  Error error(const std::string& what) const;
  // Runs SQL text (one or more statements); kIo naming the file and `what` on failure.
  Status exec(const char* sql, const std::string& what) const;

 private:
  SqliteFile() = default;
  sqlite3* db_ = nullptr;
  std::string name_;
};

}  // namespace pneumo
