#include "pneumo/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace pneumo {
namespace {

std::string format_seconds(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  long total = static_cast<long>(s + 0.5);
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", total / 3600, (total / 60) % 60, total % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02ld:%02ld", total / 60, total % 60);
  }
  return buf;
}

}  // namespace

Progress::Progress(std::string label, long long total, bool enabled)
    : Progress(std::move(label), total, enabled, stderr, ::isatty(2) != 0, std::chrono::milliseconds(5000)) {}

Progress::Progress(std::string label, long long total, bool enabled, std::FILE* out, bool is_terminal,
                   std::chrono::milliseconds log_interval)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && total > 0 && out != nullptr),
      tty_(is_terminal),
      out_(out),
      log_interval_(log_interval),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_ - log_interval) {}  // the first 10 % step may print at once

Progress::~Progress() { finish(); }

void Progress::tick(long long n) {
  done_ += n;
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
    last_draw_ = now;
    draw(false);
  } else {
    // A line per new 10 % step, and not more often than log_interval_; finish() prints the last.
    const int decile = static_cast<int>(10 * done_ / total_);
    if (decile > last_decile_ && decile < 10 && now - last_draw_ >= log_interval_) {
      last_decile_ = decile;
      last_draw_ = now;
      draw(false);
    }
  }
}

void Progress::set_suffix(std::string suffix) {
  std::lock_guard<std::mutex> lock(mutex_);
  suffix_ = std::move(suffix);
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final_draw) {
  const long long done = done_.load();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done) / rate : -1;
  const double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1.0;
  constexpr int kWidth = 28;
  std::string bar(kWidth, ' ');
  for (int i = 0; i < static_cast<int>(frac * kWidth + 0.5) && i < kWidth; ++i) bar[i] = '#';
  std::fprintf(out_, "%s%s [%s] %lld/%lld %5.1f%% %.1f/s %s %s%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
               done, total_, 100.0 * frac, rate,
               final_draw ? ("in " + format_seconds(elapsed)).c_str() : ("eta " + format_seconds(eta)).c_str(),
               suffix_.c_str(), tty_ ? "\033[K" : "\n");
  if (tty_ && final_draw) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace pneumo
