// Segmentation and image-level classification metrics, as the SIIM-ACR challenge scored them.
//
//   double d = pneumo::dice(truth_mask, predicted_mask);          // Kaggle per-image Dice
//   double m = pneumo::mean_dice(truths, predictions);
//   std::optional<double> auc = pneumo::roc_auc(scores, labels);  // nullopt if one class only
//   pneumo::ConfusionMatrix cm = pneumo::confusion_at(scores, labels, /*threshold=*/0.5f);
//   pneumo::BinaryMetrics bm = pneumo::binary_metrics(cm);
//
// Conventions (chosen so no function ever returns NaN or infinity):
// - Masks: a pixel is positive when non-zero (0/1 masks, but 0/255 work too).
// - Dice and IoU per image follow Kaggle: both masks empty -> 1; exactly one empty -> 0;
//   else 2|A∩B|/(|A|+|B|) and |A∩B|/|A∪B|. Means over an empty list are 0.
// - Classification: a score is called positive when score >= threshold; a label is positive when
//   non-zero. Every ratio with a zero denominator is 0 (precision with no predicted positive,
//   recall with no actual positive, specificity with no actual negative, F1 when tp+fp+fn = 0,
//   accuracy of an empty set).
// - ROC AUC: probability that a random positive scores above a random negative, ties counting 1/2
//   (Mann-Whitney U with average ranks). With no positives or no negatives it is undefined and
//   roc_auc returns std::nullopt.
// - Scores must not be NaN (std::invalid_argument: a caller bug); sizes must match likewise.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "pneumo/core/image.hpp"

namespace pneumo {

// ---- segmentation -----------------------------------------------------------------------------

// Pixel counts behind Dice/IoU; every per-image metric derives from these three numbers.
struct OverlapCounts {
  long long truth_area = 0;      // |A|
  long long predicted_area = 0;  // |B|
  long long intersection = 0;    // |A∩B|
};

// requires: truth and predicted have the same rows x cols (else std::invalid_argument).
OverlapCounts overlap(const Mask& truth, const Mask& predicted);

double dice(const OverlapCounts& counts);
double iou(const OverlapCounts& counts);
double dice(const Mask& truth, const Mask& predicted);
double iou(const Mask& truth, const Mask& predicted);

// Per-image Dice / IoU lists and their means. requires: truths.size() == predictions.size().
std::vector<double> dice_per_image(const std::vector<Mask>& truths, const std::vector<Mask>& predictions);
std::vector<double> iou_per_image(const std::vector<Mask>& truths, const std::vector<Mask>& predictions);
double mean_dice(const std::vector<Mask>& truths, const std::vector<Mask>& predictions);
double mean_iou(const std::vector<Mask>& truths, const std::vector<Mask>& predictions);
double mean(const std::vector<double>& values);  // 0 for an empty list

// Histogram of values in [0, 1] over `bins` equal bins [k/bins, (k+1)/bins); 1.0 falls in the
// last bin, values outside [0, 1] are clamped into the end bins. requires: bins >= 1.
std::vector<long long> unit_histogram(const std::vector<double>& values, int bins = 10);

// ---- image-level classification --------------------------------------------------------------

struct ConfusionMatrix {
  long long tp = 0, fp = 0, tn = 0, fn = 0;
  long long total() const { return tp + fp + tn + fn; }
  bool operator==(const ConfusionMatrix&) const = default;
};

struct BinaryMetrics {
  double accuracy = 0, precision = 0, recall = 0, specificity = 0, f1 = 0;  // recall = sensitivity
};

// requires: scores.size() == labels.size(), no NaN score.
ConfusionMatrix confusion_at(const std::vector<float>& scores, const std::vector<int>& labels, float threshold);
BinaryMetrics binary_metrics(const ConfusionMatrix& cm);

std::optional<double> roc_auc(const std::vector<float>& scores, const std::vector<int>& labels);

// One point per distinct score, thresholds descending, preceded by (fpr 0, tpr 0) whose threshold
// lies just above the highest score (finite). The last point is (1, 1) when both classes exist.
struct RocPoint {
  float threshold = 0;  // called positive when score >= threshold
  double fpr = 0, tpr = 0;
};
std::vector<RocPoint> roc_curve(const std::vector<float>& scores, const std::vector<int>& labels);

// One point per distinct score, thresholds descending (recall ascending), preceded by
// (recall 0, precision 1) as scikit-learn does. Empty input -> just that starting point.
struct PrPoint {
  float threshold = 0;
  double recall = 0, precision = 1;
};
std::vector<PrPoint> pr_curve(const std::vector<float>& scores, const std::vector<int>& labels);

// Step-wise area under the PR curve, sum of (R_k - R_{k-1}) * P_k (scikit-learn's definition);
// 0 when there is no positive.
double average_precision(const std::vector<float>& scores, const std::vector<int>& labels);

}  // namespace pneumo
