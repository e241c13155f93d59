#include "pneumo/eval/evaluator.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace pneumo {

Status SegmentationEvaluator::add(std::string image_id, const Mask& truth, const Mask& predicted,
                                  float image_probability, bool truth_label) {
  if (truth.rows != predicted.rows || truth.cols != predicted.cols || truth.px.size() != predicted.px.size())
    return fail(ErrorCode::kInvalidArgument,
                "image " + image_id + ": truth mask is " + std::to_string(truth.rows) + "x" +
                    std::to_string(truth.cols) + " but predicted mask is " + std::to_string(predicted.rows) + "x" +
                    std::to_string(predicted.cols) + "; expected the same size");
  if (std::isnan(image_probability))
    return fail(ErrorCode::kInvalidArgument, "image " + image_id + ": image probability is NaN");

  // The pixel work happens outside the lock so concurrent adds scale.
  ImageRecord rec;
  rec.truth_label = truth_label;
  rec.probability = image_probability;
  rec.counts = overlap(truth, predicted);
  rec.dice = dice(rec.counts);
  rec.iou = iou(rec.counts);

  std::lock_guard<std::mutex> lock(mutex_);
  if (!ids_.insert(image_id).second)
    return fail(ErrorCode::kInvalidArgument, "image " + image_id + ": added twice; expected unique image ids");
  rec.image_id = std::move(image_id);
  records_.push_back(std::move(rec));
  return ok_status();
}

std::size_t SegmentationEvaluator::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return records_.size();
}

EvaluationSummary SegmentationEvaluator::summary(std::size_t gallery_size) const {
  EvaluationSummary s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s.records = records_;
  }
  std::sort(s.records.begin(), s.records.end(),
            [](const ImageRecord& a, const ImageRecord& b) { return a.image_id < b.image_id; });
  const auto& recs = s.records;
  s.images = recs.size();
  s.classification_threshold = classification_threshold_;

  std::vector<double> dices, ious, dice_pos, dice_neg;
  std::vector<float> scores;
  std::vector<int> labels;
  for (const ImageRecord& r : recs) {
    dices.push_back(r.dice);
    ious.push_back(r.iou);
    (r.truth_mask_empty() ? dice_neg : dice_pos).push_back(r.dice);
    scores.push_back(r.probability);
    labels.push_back(r.truth_label ? 1 : 0);
    const bool truth = !r.truth_mask_empty(), pred = !r.predicted_mask_empty();
    if (truth && pred) ++s.mask_presence.tp;
    else if (pred) ++s.mask_presence.fp;
    else if (truth) ++s.mask_presence.fn;
    else ++s.mask_presence.tn;
  }
  s.positive_images = dice_pos.size();
  s.negative_images = dice_neg.size();
  s.mean_dice = mean(dices);
  s.mean_iou = mean(ious);
  s.mean_dice_positive = mean(dice_pos);
  s.mean_dice_negative = mean(dice_neg);
  s.dice_histogram = unit_histogram(dices, /*bins=*/10);

  s.roc_auc = roc_auc(scores, labels);
  s.average_precision = average_precision(scores, labels);
  s.confusion = confusion_at(scores, labels, classification_threshold_);
  s.classification = binary_metrics(s.confusion);
  s.roc = roc_curve(scores, labels);
  s.pr = pr_curve(scores, labels);

  // Galleries. Records are already in id order, so stable sorts break ties by id.
  std::vector<std::size_t> all(recs.size());
  std::iota(all.begin(), all.end(), std::size_t{0});
  s.lowest_dice = all;
  std::stable_sort(s.lowest_dice.begin(), s.lowest_dice.end(),
                   [&](std::size_t a, std::size_t b) { return recs[a].dice < recs[b].dice; });
  if (s.lowest_dice.size() > gallery_size) s.lowest_dice.resize(gallery_size);

  for (std::size_t i : all) {
    if (recs[i].truth_mask_empty() && !recs[i].predicted_mask_empty()) s.false_positives.push_back(i);
    if (!recs[i].truth_mask_empty() && recs[i].predicted_mask_empty()) s.false_negatives.push_back(i);
  }
  std::stable_sort(s.false_positives.begin(), s.false_positives.end(), [&](std::size_t a, std::size_t b) {
    return recs[a].counts.predicted_area > recs[b].counts.predicted_area;
  });
  std::stable_sort(s.false_negatives.begin(), s.false_negatives.end(), [&](std::size_t a, std::size_t b) {
    return recs[a].counts.truth_area > recs[b].counts.truth_area;
  });
  if (s.false_positives.size() > gallery_size) s.false_positives.resize(gallery_size);
  if (s.false_negatives.size() > gallery_size) s.false_negatives.resize(gallery_size);
  return s;
}

}  // namespace pneumo
