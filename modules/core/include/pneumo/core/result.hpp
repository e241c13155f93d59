// Expected failures as values.
//
//   pneumo::Result<Mask> r = decode(...);
//   if (!r) return r.error();            // propagate
//   use(r.value());
//   return pneumo::fail(ErrorCode::kBadInput, "train-rle.csv:12: odd number of values");
//
// Thread-safety: plain value types; safe to use from any thread.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace pneumo {

// Each code maps to one named CLI exit code (see exit_codes.hpp) and one HTTP status.
enum class ErrorCode {
  kInvalidArgument,  // a flag or parameter the user gave is wrong
  kNotFound,         // a file or directory does not exist
  kIo,               // it exists but cannot be read or written
  kBadInput,         // the content is malformed: bad DICOM, bad CSV line, bad RLE
  kUnsupported,      // well-formed but not something pneumo handles (JPEG 2000, colour, multi-frame)
  kInternal,         // a bug: an invariant broke
};

const char* error_code_name(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one line: names the file, line, field and what was expected
};

inline Error fail(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : state_(std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(state_); }
  const T& value() const& { assert(ok()); return std::get<0>(state_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

// Result<void>: success carries nothing.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace pneumo
