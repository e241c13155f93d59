// Shared plumbing of the side-by-side benchmark binaries (bench_rle, bench_dicom, ...).
//
//   auto t = pneumo::bench::time_reps(/*reps=*/3, [&] { work(); });
//   nlohmann::json out = pneumo::bench::result_json(t, /*items=*/n, "rows");
//   out["check"] = {{"rows", n}};
//   return pneumo::bench::emit(out);   // one JSON object on stdout, exit 0
//
// Every binary prints exactly one JSON object on stdout (what bench/run.sh collects) and
// reports errors as one line on stderr with a non-zero exit code. The Python peers in
// bench/python/ print the same fields, so bench/python/report.py can pair them.
// Not thread-safe: call from main() only.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/exit_codes.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo::bench {

struct Timing {
  double median_s = 0;
  double min_s = 0;
  int reps = 0;
};

// Runs fn() `reps` times (at least once) and returns the median and minimum wall time.
template <typename Fn>
Timing time_reps(int reps, Fn&& fn) {
  std::vector<double> seconds;
  for (int i = 0; i < std::max(1, reps); ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(seconds.begin(), seconds.end());
  const std::size_t n = seconds.size();
  const double median = n % 2 ? seconds[n / 2] : (seconds[n / 2 - 1] + seconds[n / 2]) / 2;
  return Timing{median, seconds.front(), static_cast<int>(n)};
}

// Peak resident set size of this process so far, in KiB (Linux ru_maxrss unit).
inline long peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

inline nlohmann::json result_json(const Timing& t, long long items, const std::string& unit) {
  return nlohmann::json{{"side", "pneumo"},   {"seconds", t.median_s}, {"seconds_min", t.min_s},
                        {"reps", t.reps},     {"items", items},        {"unit", unit},
                        {"peak_rss_kb", peak_rss_kb()}};
}

inline int emit(const nlohmann::json& out) {
  std::cout << out.dump() << std::endl;
  return out.value("ok", true) ? kExitOk : kExitInternal;
}

// One line on stderr, named exit code: the same contract as the CLI's report_error.
inline int report(const std::string& program, const Error& error) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), error.message.c_str());
  return exit_code_for(error.code);
}

}  // namespace pneumo::bench
