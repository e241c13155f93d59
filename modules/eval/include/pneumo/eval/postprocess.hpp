// Turning probability maps into final masks.
//
//   pneumo::PostprocessParams pp;                  // plain: pixels > 0.5
//   pp.triplet = true;                             // the winning SIIM solution's rule
//   pp.top_threshold = 0.7f; pp.triplet_min_area = 600; pp.bottom_threshold = 0.3f;
//   pneumo::Mask m = pneumo::apply_postprocess(prob_map, classifier_prob, pp);
//   nlohmann::json j = pneumo::to_json(pp);        // store next to the model
//   auto back = pneumo::postprocess_params_from_json(j, "postprocess.json");
//
// apply_postprocess, in order:
//   1. classifier gate: when classifier_prob is given and classifier_prob < classifier_threshold,
//      the mask is empty (two-stage pipelines; nullopt skips the gate);
//   2. triplet = false: mask = pixels with p > pixel_threshold;
//      triplet = true:  the image is empty unless at least triplet_min_area pixels have
//                       p > top_threshold; otherwise mask = pixels with p > bottom_threshold;
//   3. when min_component_area > 1, 8-connected components smaller than it are removed;
//   4. with an open gate (classifier_prob given and >= classifier_threshold) the mask is never
//      empty, so that "positive" always equals "gate probability >= its threshold": when steps 2-3
//      left nothing, the largest 8-connected component of p > (bottom_threshold when triplet,
//      else pixel_threshold) is kept (ties: the first in raster order); when no pixel passes that,
//      peak_region(map). The gate is the image-level decision; the mask says where.
// Pixel thresholds are strict (p > t); the classifier gate keeps prob >= threshold. NaN pixels
// never pass a threshold. Areas are in pixels of the map, so they depend on its resolution.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/eval/prob_map.hpp"

namespace pneumo {

// Mask of pixels with p > t (0/1).
Mask threshold(const ProbMap& map, float t);

// Removes 8-connected components (diagonal neighbours join) with fewer than min_area pixels,
// in place; returns how many components were removed. min_area <= 1 changes nothing.
int remove_small_components(Mask& mask, int min_area);

// The largest 8-connected component of a 0/1 mask (ties: lowest label, i.e. first in raster
// order of its first pixel); empty when the mask is.
Mask largest_component(const Mask& mask);
// Pixels with p >= half the map's maximum (the argmax pixel alone when the maximum is <= 0 or
// NaN-free values are absent): never empty for a non-empty map.
Mask peak_region(const ProbMap& map);

// Triplet rule alone: empty unless count(p > top) >= min_area, then p > bottom.
Mask triplet_mask(const ProbMap& map, float top_threshold, float bottom_threshold, int min_area);

struct PostprocessParams {
  float pixel_threshold = 0.5f;  // used when triplet == false
  int min_component_area = 0;    // 0 or 1: keep every component
  bool triplet = false;
  float top_threshold = 0.7f;     // triplet: "is there pneumothorax at all" threshold
  float bottom_threshold = 0.3f;  // triplet: mask threshold once the image is positive
  int triplet_min_area = 600;     // triplet: pixels above top_threshold needed
  float classifier_threshold = 0.5f;
  bool operator==(const PostprocessParams&) const = default;
};

Mask apply_postprocess(const ProbMap& map, std::optional<float> classifier_prob, const PostprocessParams& params);

// JSON object with the seven fields above, by the same names.
nlohmann::json to_json(const PostprocessParams& params);

// Missing fields keep their defaults. Fails (kBadInput) on a non-object, an unknown field (likely a
// typo), a wrong type, a threshold outside [0, 1] or a negative area; the message starts with
// `source` and names the field, e.g. "postprocess.json: field 'top_threshold': expected a number
// in [0, 1], got \"high\"".
Result<PostprocessParams> postprocess_params_from_json(const nlohmann::json& j,
                                                       std::string_view source = "postprocess params");

}  // namespace pneumo
