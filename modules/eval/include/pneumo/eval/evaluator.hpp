// Accumulates per-image results during validation or inference, then summarises them.
//
//   pneumo::SegmentationEvaluator ev(/*classification_threshold=*/0.5f);
//   parallel_for(n, threads, [&](size_t i) {
//     if (auto st = ev.add(ids[i], truth[i], pred[i], prob[i], truth_label[i]); !st) ...;
//   });
//   pneumo::EvaluationSummary s = ev.summary();
//   s.mean_dice; s.roc_auc; s.confusion; s.records[s.lowest_dice[0]].image_id;
//
// Metric conventions are those of metrics.hpp (Kaggle Dice, score >= threshold is positive,
// zero denominators give 0, AUC nullopt with one class only). Nothing here is ever NaN.
// The summary is deterministic: records are sorted by image_id whatever order add() ran in.
// Image ids are whatever the caller passes (SOPInstanceUIDs); no patient data is stored.
//
// Thread-safety: add(), size() and summary() may be called concurrently from any threads.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/eval/metrics.hpp"

namespace pneumo {

struct ImageRecord {
  std::string image_id;
  bool truth_label = false;      // image-level truth as given to add()
  float probability = 0;         // image-level score as given to add()
  OverlapCounts counts;          // truth / predicted mask areas and overlap
  double dice = 0, iou = 0;      // Kaggle rules
  bool truth_mask_empty() const { return counts.truth_area == 0; }
  bool predicted_mask_empty() const { return counts.predicted_area == 0; }
};

struct EvaluationSummary {
  std::size_t images = 0;
  std::size_t positive_images = 0;  // truth mask non-empty
  std::size_t negative_images = 0;  // truth mask empty

  // Segmentation (mask level).
  double mean_dice = 0;           // Kaggle leaderboard metric over all images
  double mean_iou = 0;
  double mean_dice_positive = 0;  // over images with a non-empty truth mask (0 if none)
  double mean_dice_negative = 0;  // over empty-truth images = share predicted empty (0 if none)
  std::vector<long long> dice_histogram;  // 10 bins over [0, 1], see unit_histogram
  // Mask presence as a classifier: positive = mask non-empty, truth = truth mask non-empty.
  ConfusionMatrix mask_presence;

  // Image level, from (probability, truth_label).
  float classification_threshold = 0.5f;
  std::optional<double> roc_auc;  // nullopt when only one class is present
  double average_precision = 0;
  ConfusionMatrix confusion;      // at classification_threshold
  BinaryMetrics classification;   // derived from `confusion`
  std::vector<RocPoint> roc;
  std::vector<PrPoint> pr;

  // Every image, sorted by image_id; the lists below index into it (galleries).
  std::vector<ImageRecord> records;
  std::vector<std::size_t> lowest_dice;      // up to gallery_size, by dice ascending, then id
  std::vector<std::size_t> false_positives;  // empty truth, non-empty prediction; largest first
  std::vector<std::size_t> false_negatives;  // non-empty truth, empty prediction; largest first
};

class SegmentationEvaluator {
 public:
  explicit SegmentationEvaluator(float classification_threshold = 0.5f)
      : classification_threshold_(classification_threshold) {}

  // Fails (kInvalidArgument, naming the image) when the masks differ in size, the id was already
  // added, or the probability is NaN.
  Status add(std::string image_id, const Mask& truth, const Mask& predicted, float image_probability,
             bool truth_label);

  std::size_t size() const;

  // gallery_size bounds each of lowest_dice / false_positives / false_negatives.
  EvaluationSummary summary(std::size_t gallery_size = 16) const;

 private:
  float classification_threshold_;
  mutable std::mutex mutex_;
  std::vector<ImageRecord> records_;  // guarded by mutex_
  std::unordered_set<std::string> ids_;  // guarded by mutex_
};

}  // namespace pneumo
