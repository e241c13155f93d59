// Prometheus text exposition for the service's counters and histograms.
#include "metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace pneumo::detail {
namespace {

const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::vector<double> batch_bounds(int max_batch) {
  std::vector<double> b;
  for (int i = 1; i <= std::max(1, max_batch); ++i) b.push_back(i);
  return b;
}

}  // namespace

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);
  ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
  sum_ += value;
  ++count_;
}

void Histogram::write(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{" + labels + "le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{" + labels + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  const std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
  out += name + "_sum" + plain + " " + number(sum_) + "\n";
  out += name + "_count" + plain + " " + std::to_string(count_) + "\n";
}

Metrics::Metrics(int max_batch) : batch_size_(batch_bounds(max_batch)), inference_(kLatencyBounds) {}

void Metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
  latency_.try_emplace(route, kLatencyBounds).first->second.observe(seconds);
}

void Metrics::batch(std::size_t size, double inference_seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  batch_size_.observe(static_cast<double>(size));
  inference_.observe(inference_seconds);
  images_ += size;
  ++batches_;
}

std::string Metrics::text(std::size_t queue_depth, std::size_t queue_capacity, bool ready,
                          const std::vector<std::pair<std::string, std::string>>& models) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  out += "# HELP pneumo_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE pneumo_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "pneumo_http_requests_total{route=\"" + escape_label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP pneumo_http_request_duration_seconds Time from request to response, by route.\n";
  out += "# TYPE pneumo_http_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    h.write(out, "pneumo_http_request_duration_seconds", "route=\"" + escape_label(route) + "\",");
  }
  out += "# HELP pneumo_queue_depth Images waiting for an inference worker.\n";
  out += "# TYPE pneumo_queue_depth gauge\n";
  out += "pneumo_queue_depth " + std::to_string(queue_depth) + "\n";
  out += "# HELP pneumo_queue_capacity Images that may wait before requests are refused with 429.\n";
  out += "# TYPE pneumo_queue_capacity gauge\n";
  out += "pneumo_queue_capacity " + std::to_string(queue_capacity) + "\n";
  out += "# HELP pneumo_batch_size Images per forward pass.\n";
  out += "# TYPE pneumo_batch_size histogram\n";
  batch_size_.write(out, "pneumo_batch_size", "");
  out += "# HELP pneumo_inference_duration_seconds Time of one forward pass (a batch) including post-processing.\n";
  out += "# TYPE pneumo_inference_duration_seconds histogram\n";
  inference_.write(out, "pneumo_inference_duration_seconds", "");
  out += "# HELP pneumo_images_processed_total Images run through the model.\n";
  out += "# TYPE pneumo_images_processed_total counter\n";
  out += "pneumo_images_processed_total " + std::to_string(images_) + "\n";
  out += "# HELP pneumo_ready 1 when the model is loaded and warmed up and the service is not shutting down.\n";
  out += "# TYPE pneumo_ready gauge\n";
  out += std::string("pneumo_ready ") + (ready ? "1" : "0") + "\n";
  out += "# HELP pneumo_model_info The model files served (value 1), by file name and sha256.\n";
  out += "# TYPE pneumo_model_info gauge\n";
  for (const auto& [file, sha] : models) {
    out += "pneumo_model_info{file=\"" + escape_label(file) + "\",sha256=\"" + escape_label(sha) + "\"} 1\n";
  }
  return out;
}

}  // namespace pneumo::detail
