// Internal to serve: the counters and histograms behind GET /metrics (Prometheus text format 0.0.4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pneumo::detail {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Lines "<name>_bucket{<labels>le="..."} n", _sum and _count; `labels` is "" or `a="b",`.
  void write(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  explicit Metrics(int max_batch);
  void request(const std::string& route, int status, double seconds);
  void batch(std::size_t size, double inference_seconds);
  // Text for /metrics; the gauges are passed in (they live elsewhere).
  std::string text(std::size_t queue_depth, std::size_t queue_capacity, bool ready,
                   const std::vector<std::pair<std::string, std::string>>& models) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram batch_size_;
  Histogram inference_;
  std::uint64_t images_ = 0;
  std::uint64_t batches_ = 0;
};

// Prometheus label value escaping (backslash, double quote, newline).
std::string escape_label(const std::string& value);

}  // namespace pneumo::detail
