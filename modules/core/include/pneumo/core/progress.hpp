// A terminal progress bar with rate and ETA, drawn on stderr.
//
//   pneumo::Progress bar("decode", total);
//   for (...) { ...; bar.tick(); }
//   bar.finish();
//
// On a terminal it redraws one line in place at most every 100 ms. Off a terminal (CI, pipes, a
// demo's log file) it prints whole lines, at most one per 10 % of the work and at most one every
// `log_interval` (5 s by default), plus the final line from finish(): a log holds at most 11 lines
// per bar however many ticks there are. tick() is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace pneumo {

class Progress {
 public:
  Progress(std::string label, long long total, bool enabled = true);
  // For tests and tools that log elsewhere: write to `out`, as a terminal or not, with a given
  // minimum time between two lines off a terminal.
  Progress(std::string label, long long total, bool enabled, std::FILE* out, bool is_terminal,
           std::chrono::milliseconds log_interval);
  ~Progress();
  void tick(long long n = 1);
  void set_suffix(std::string suffix);  // e.g. "loss 0.231"
  void finish();

 private:
  void draw(bool final_draw);
  std::string label_;
  long long total_;
  bool enabled_;
  bool tty_;
  std::FILE* out_ = stderr;
  std::chrono::milliseconds log_interval_{5000};
  bool finished_ = false;
  std::atomic<long long> done_{0};
  int last_decile_ = -1;
  std::string suffix_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace pneumo
