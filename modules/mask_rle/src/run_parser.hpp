// Internal: the one parser behind decode_rle_into and the CSV reader's validation pass.
// Not installed; include only from modules/mask_rle/src.
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "pneumo/core/result.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace pneumo::rle_detail {

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// True for the two spellings of "no mask": "-1" and an empty field.
inline bool is_empty_encoding(std::string_view trimmed) { return trimmed.empty() || trimmed == "-1"; }

std::string mask_size_text(int rows, int cols);  // "1024x1024" (width x height)

// Calls sink(start, length) for every run, start 0-based column-major, in file order, after
// checking the run lies inside the rows x cols mask and does not overlap or precede the previous
// run. Stops at the first error. The sink sees only valid runs.
// requires: rows > 0 && cols > 0
template <typename Sink>
Status for_each_run(std::string_view encoded, int rows, int cols, RleFormat format, Sink&& sink) {
  encoded = trim_blanks(encoded);
  if (is_empty_encoding(encoded)) return ok_status();

  const std::int64_t total = static_cast<std::int64_t>(rows) * cols;
  const char* p = encoded.data();
  const char* const end = p + encoded.size();
  std::int64_t value_index = 0;  // 1-based index of the value being read, for messages
  std::int64_t run_index = 0;
  std::int64_t prev_end = 0;  // exclusive end of the previous run (0-based)

  // Reads the next whitespace-separated integer; false at the end of the text.
  auto next_value = [&](std::int64_t& out, Status& error) -> bool {
    while (p != end && is_blank(*p)) ++p;
    if (p == end) return false;
    ++value_index;
    const char* start = p;
    auto [ptr, ec] = std::from_chars(p, end, out);
    if (ec == std::errc::result_out_of_range) {
      while (ptr != end && !is_blank(*ptr)) ++ptr;
      error = fail(ErrorCode::kBadInput, "value " + std::to_string(value_index) + " ('" +
                                             std::string(start, ptr) + "') is too large");
      return false;
    }
    if (ec != std::errc() || (ptr != end && !is_blank(*ptr))) {
      const char* stop = start;
      while (stop != end && !is_blank(*stop)) ++stop;
      error = fail(ErrorCode::kBadInput, "value " + std::to_string(value_index) + " ('" +
                                             std::string(start, stop) + "') is not a whole number");
      return false;
    }
    p = ptr;
    return true;
  };

  Status error = ok_status();
  for (;;) {
    std::int64_t first = 0;
    std::int64_t length = 0;
    if (!next_value(first, error)) break;
    if (!next_value(length, error)) {
      if (!error) return error;
      return fail(ErrorCode::kBadInput, "odd number of values (" + std::to_string(value_index) +
                                            "): the last run has no length");
    }
    ++run_index;
    // Built only on the error paths: the hot loop must not allocate.
    auto run_name = [&] { return "run " + std::to_string(run_index); };
    std::int64_t start = 0;
    if (format == RleFormat::kRelative) {
      if (first < 0) {
        return fail(ErrorCode::kBadInput, run_name() + ": negative gap " + std::to_string(first) +
                                              " (runs must not overlap or go backwards)");
      }
      if (first > total) {
        return fail(ErrorCode::kBadInput, run_name() + ": run starts at pixel " +
                                              std::to_string(prev_end + first) + ", past the end of a " +
                                              mask_size_text(rows, cols) + " mask");
      }
      start = prev_end + first;
    } else {
      if (first < 1) {
        return fail(ErrorCode::kBadInput, run_name() + ": start " + std::to_string(first) +
                                              ", expected a 1-based start >= 1");
      }
      start = first - 1;
      if (start < prev_end) {
        return fail(ErrorCode::kBadInput,
                    run_name() + ": starts at " + std::to_string(first) + ", before the end of the previous run at " +
                        std::to_string(prev_end) + " (runs must not overlap or go backwards)");
      }
    }
    if (length <= 0) {
      return fail(ErrorCode::kBadInput,
                  run_name() + ": length " + std::to_string(length) + ", expected a positive length");
    }
    if (start >= total || length > total - start) {
      // Saturate only where start + length would overflow.
      constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
      const std::int64_t run_end = length > kMax - start ? kMax : start + length;
      return fail(ErrorCode::kBadInput, "run ends at pixel " + std::to_string(run_end) +
                                            ", past the end of a " + mask_size_text(rows, cols) +
                                            " mask (" + run_name() + ")");
    }
    sink(start, length);
    prev_end = start + length;
  }
  if (!error) return error;
  return ok_status();
}

}  // namespace pneumo::rle_detail
