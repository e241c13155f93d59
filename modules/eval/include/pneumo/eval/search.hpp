// Grid search of post-processing parameters on out-of-fold predictions, maximising Kaggle mean Dice.
//
//   std::vector<pneumo::EvalSample> oof = ...;    // truth mask + probability map (+ classifier prob)
//   pneumo::SearchGrid grid;                      // defaults: triplet search, see below
//   auto r = pneumo::search_postprocess(oof, grid);
//   if (!r) return report_error(r.error());
//   r->best_params; r->best_mean_dice; r->table;  // table: every grid point tried
//
// Every reported mean Dice is exactly what apply_postprocess + mean_dice give for those params
// (same thresholds, same strict/inclusive comparisons, same 8-connectivity).
// Grid points enumerated (in this nesting order, outermost first):
//   classifier_thresholds x [triplet: top x bottom (bottom <= top only) x triplet_min_areas |
//   plain: bottom_thresholds used as pixel_threshold] x min_component_areas.
// classifier_thresholds are searched only when at least one sample has a classifier prob
// (samples without one are never gated); otherwise the searched params keep the default 0.5.
// Ties are broken by enumeration order (first wins), so the result is deterministic.
//
// Cost: each image's map is scanned once per distinct threshold to count pixels (and truth pixels)
// above it, and labelled once per bottom threshold when min_component_areas has values > 1;
// each grid point is then O(images). A few hundred points on a few hundred 256x256 maps: seconds.
//
// Thread-safety: pure function; runs on grid.threads threads (0 = default_threads()).
#pragma once

#include <optional>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/eval/postprocess.hpp"
#include "pneumo/eval/prob_map.hpp"

namespace pneumo {

struct EvalSample {
  Mask truth;                           // 0/1, same size as probs
  ProbMap probs;                        // segmentation probabilities
  std::optional<float> classifier_prob; // image-level probability from a classifier, if any
};

struct SearchGrid {
  bool triplet = true;
  std::vector<float> classifier_thresholds = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f};
  std::vector<float> top_thresholds = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f};
  std::vector<float> bottom_thresholds = {0.2f, 0.3f, 0.4f, 0.5f};  // pixel_threshold when !triplet
  std::vector<int> triplet_min_areas = {0, 50, 100, 200, 400, 800};  // pixels, for 256x256 maps
  std::vector<int> min_component_areas = {0};
  int threads = 0;  // 0 = default_threads()
};

struct SearchRow {
  PostprocessParams params;
  double mean_dice = 0;
};

struct SearchResult {
  PostprocessParams best_params;
  double best_mean_dice = 0;
  std::vector<SearchRow> table;  // every grid point, in enumeration order
};

// Fails (kInvalidArgument) on no samples, an empty grid list, a threshold outside [0, 1], a negative
// area, or a sample whose truth and probs differ in size (naming its index).
Result<SearchResult> search_postprocess(const std::vector<EvalSample>& samples, SearchGrid grid);

}  // namespace pneumo
