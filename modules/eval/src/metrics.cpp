#include "pneumo/eval/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

namespace pneumo {
namespace {

void require_same_size(const Mask& a, const Mask& b) {
  if (a.rows != b.rows || a.cols != b.cols || a.px.size() != b.px.size())
    throw std::invalid_argument("mask sizes differ: " + std::to_string(a.rows) + "x" + std::to_string(a.cols) +
                                " vs " + std::to_string(b.rows) + "x" + std::to_string(b.cols));
}

void require_scores(const std::vector<float>& scores, const std::vector<int>& labels) {
  if (scores.size() != labels.size())
    throw std::invalid_argument("scores and labels differ in length: " + std::to_string(scores.size()) + " vs " +
                                std::to_string(labels.size()));
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (std::isnan(scores[i])) throw std::invalid_argument("score " + std::to_string(i) + " is NaN");
}

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

// Indices of scores sorted by descending score (stable, so equal scores keep input order).
std::vector<std::size_t> order_descending(const std::vector<float>& scores) {
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  return idx;
}

struct ClassCounts {
  long long positives = 0, negatives = 0;
};
ClassCounts count_classes(const std::vector<int>& labels) {
  ClassCounts c;
  for (int l : labels) (l != 0 ? c.positives : c.negatives)++;
  return c;
}

// Walks distinct scores from the highest down, calling fn(threshold, tp, fp) after each group.
template <typename Fn>
void for_each_threshold(const std::vector<float>& scores, const std::vector<int>& labels, Fn fn) {
  auto idx = order_descending(scores);
  long long tp = 0, fp = 0;
  for (std::size_t i = 0; i < idx.size();) {
    const float s = scores[idx[i]];
    for (; i < idx.size() && scores[idx[i]] == s; ++i) (labels[idx[i]] != 0 ? tp : fp)++;
    fn(s, tp, fp);
  }
}

float above_highest(const std::vector<float>& scores) {
  if (scores.empty()) return 1.0f;
  const float hi = *std::max_element(scores.begin(), scores.end());
  return std::nextafter(hi, std::numeric_limits<float>::infinity());
}

}  // namespace

OverlapCounts overlap(const Mask& truth, const Mask& predicted) {
  require_same_size(truth, predicted);
  OverlapCounts c;
  const std::size_t n = truth.px.size();
  for (std::size_t i = 0; i < n; ++i) {
    const bool t = truth.px[i] != 0, p = predicted.px[i] != 0;
    c.truth_area += t;
    c.predicted_area += p;
    c.intersection += t && p;
  }
  return c;
}

double dice(const OverlapCounts& c) {
  const long long sum = c.truth_area + c.predicted_area;
  if (sum == 0) return 1.0;  // both empty: Kaggle scores a correct "no pneumothorax" as 1
  return 2.0 * static_cast<double>(c.intersection) / static_cast<double>(sum);  // one empty -> 0
}

double iou(const OverlapCounts& c) {
  const long long uni = c.truth_area + c.predicted_area - c.intersection;
  if (uni == 0) return 1.0;
  return static_cast<double>(c.intersection) / static_cast<double>(uni);
}

double dice(const Mask& truth, const Mask& predicted) { return dice(overlap(truth, predicted)); }
double iou(const Mask& truth, const Mask& predicted) { return iou(overlap(truth, predicted)); }

namespace {
template <typename Metric>
std::vector<double> per_image(const std::vector<Mask>& truths, const std::vector<Mask>& predictions, Metric metric) {
  if (truths.size() != predictions.size())
    throw std::invalid_argument("truth and prediction lists differ in length: " + std::to_string(truths.size()) +
                                " vs " + std::to_string(predictions.size()));
  std::vector<double> out(truths.size());
  for (std::size_t i = 0; i < truths.size(); ++i) out[i] = metric(overlap(truths[i], predictions[i]));
  return out;
}
}  // namespace

std::vector<double> dice_per_image(const std::vector<Mask>& truths, const std::vector<Mask>& predictions) {
  return per_image(truths, predictions, [](const OverlapCounts& c) { return dice(c); });
}
std::vector<double> iou_per_image(const std::vector<Mask>& truths, const std::vector<Mask>& predictions) {
  return per_image(truths, predictions, [](const OverlapCounts& c) { return iou(c); });
}
double mean_dice(const std::vector<Mask>& truths, const std::vector<Mask>& predictions) {
  return mean(dice_per_image(truths, predictions));
}
double mean_iou(const std::vector<Mask>& truths, const std::vector<Mask>& predictions) {
  return mean(iou_per_image(truths, predictions));
}

double mean(const std::vector<double>& values) {
  if (values.empty()) return 0.0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

std::vector<long long> unit_histogram(const std::vector<double>& values, int bins) {
  if (bins < 1) throw std::invalid_argument("unit_histogram: bins must be >= 1");
  std::vector<long long> counts(static_cast<std::size_t>(bins), 0);
  for (double v : values) {
    if (std::isnan(v)) throw std::invalid_argument("unit_histogram: NaN value");
    const double clamped = std::clamp(v, 0.0, 1.0);
    const int k = std::min(bins - 1, static_cast<int>(clamped * bins));
    ++counts[static_cast<std::size_t>(k)];
  }
  return counts;
}

ConfusionMatrix confusion_at(const std::vector<float>& scores, const std::vector<int>& labels, float threshold) {
  require_scores(scores, labels);
  ConfusionMatrix cm;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] >= threshold, actual = labels[i] != 0;
    if (predicted && actual) ++cm.tp;
    else if (predicted) ++cm.fp;
    else if (actual) ++cm.fn;
    else ++cm.tn;
  }
  return cm;
}

BinaryMetrics binary_metrics(const ConfusionMatrix& cm) {
  BinaryMetrics m;
  m.accuracy = ratio(static_cast<double>(cm.tp + cm.tn), static_cast<double>(cm.total()));
  m.precision = ratio(static_cast<double>(cm.tp), static_cast<double>(cm.tp + cm.fp));
  m.recall = ratio(static_cast<double>(cm.tp), static_cast<double>(cm.tp + cm.fn));
  m.specificity = ratio(static_cast<double>(cm.tn), static_cast<double>(cm.tn + cm.fp));
  m.f1 = ratio(2.0 * static_cast<double>(cm.tp), static_cast<double>(2 * cm.tp + cm.fp + cm.fn));
  return m;
}

std::optional<double> roc_auc(const std::vector<float>& scores, const std::vector<int>& labels) {
  require_scores(scores, labels);
  const ClassCounts classes = count_classes(labels);
  if (classes.positives == 0 || classes.negatives == 0) return std::nullopt;
  // Mann-Whitney U: sum of the positives' ranks (1-based, ascending, ties get their average rank).
  std::vector<std::size_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  std::sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0;
  for (std::size_t i = 0; i < idx.size();) {
    std::size_t j = i;
    long long positives_in_group = 0;
    for (; j < idx.size() && scores[idx[j]] == scores[idx[i]]; ++j) positives_in_group += labels[idx[j]] != 0;
    const double average_rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2.0;
    positive_rank_sum += average_rank * static_cast<double>(positives_in_group);
    i = j;
  }
  const double np = static_cast<double>(classes.positives), nn = static_cast<double>(classes.negatives);
  const double u = positive_rank_sum - np * (np + 1) / 2.0;
  return u / (np * nn);
}

std::vector<RocPoint> roc_curve(const std::vector<float>& scores, const std::vector<int>& labels) {
  require_scores(scores, labels);
  const ClassCounts classes = count_classes(labels);
  std::vector<RocPoint> points{{above_highest(scores), 0.0, 0.0}};
  for_each_threshold(scores, labels, [&](float t, long long tp, long long fp) {
    points.push_back({t, ratio(static_cast<double>(fp), static_cast<double>(classes.negatives)),
                      ratio(static_cast<double>(tp), static_cast<double>(classes.positives))});
  });
  return points;
}

std::vector<PrPoint> pr_curve(const std::vector<float>& scores, const std::vector<int>& labels) {
  require_scores(scores, labels);
  const ClassCounts classes = count_classes(labels);
  std::vector<PrPoint> points{{above_highest(scores), 0.0, 1.0}};
  for_each_threshold(scores, labels, [&](float t, long long tp, long long fp) {
    points.push_back({t, ratio(static_cast<double>(tp), static_cast<double>(classes.positives)),
                      ratio(static_cast<double>(tp), static_cast<double>(tp + fp))});
  });
  return points;
}

double average_precision(const std::vector<float>& scores, const std::vector<int>& labels) {
  const auto points = pr_curve(scores, labels);
  double ap = 0;
  for (std::size_t k = 1; k < points.size(); ++k) ap += (points[k].recall - points[k - 1].recall) * points[k].precision;
  return ap;
}

}  // namespace pneumo
