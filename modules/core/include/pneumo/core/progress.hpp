// A terminal progress bar with rate and ETA, drawn on stderr.
//
//   pneumo::Progress bar("decode", total);
//   for (...) { ...; bar.tick(); }
//   bar.finish();
//
// Redraws at most every 100 ms; when stderr is not a terminal (CI, pipes) it prints a line at
// every 10% instead. tick() is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

namespace pneumo {

class Progress {
 public:
  Progress(std::string label, long long total, bool enabled = true);
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
  bool finished_ = false;
  std::atomic<long long> done_{0};
  int last_decile_ = -1;
  std::string suffix_;
  std::mutex mutex_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace pneumo
