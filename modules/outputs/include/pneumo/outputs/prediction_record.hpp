// What `pneumo predict` reports per image: a small record, and which side of the patient the
// predicted pneumothorax is on.
//
//   pneumo::PredictionRecord r;
//   r.image_id = meta.sop_instance_uid;
//   r.side = pneumo::affected_side(mask, meta.view_position);
//   r.mask_area_px = pneumo::count_nonzero(mask);
//   r.mask_area_cm2 = pneumo::mask_area_cm2(r.mask_area_px, meta.pixel_spacing_row_mm, meta.pixel_spacing_col_mm);
//   nlohmann::json j = pneumo::to_json(r);
//
// Side convention: chest radiographs in frontal projection (PA or AP) are displayed as if facing
// the patient, so the patient's RIGHT is on the image's LEFT (low column numbers) and the
// patient's left on the image's right. affected_side assigns every 8-connected component of the
// mask to the image half holding its centroid and compares the areas: "bilateral" when both halves
// hold at least kBilateralShare of the area, else the side with more area. Lateral views (LL, RL,
// LATERAL) carry no left/right information: "undetermined". An empty view position is treated as
// frontal (every SIIM image is PA or AP).
//
// Thread-safety: pure functions and plain value types.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo {

enum class AffectedSide { kNone, kRight, kLeft, kBilateral, kUndetermined };

inline constexpr double kBilateralShare = 0.10;

// "none", "right", "left", "bilateral", "undetermined" (patient's side).
const char* side_name(AffectedSide side);
Result<AffectedSide> parse_side(std::string_view name);

// requires: mask holds 0/1 (any non-zero counts as set).
AffectedSide affected_side(const Mask& mask, std::string_view view_position);

// Area in cm² from a pixel count and the pixel spacing in mm; nullopt when a spacing is missing
// or not positive.
std::optional<double> mask_area_cm2(long long area_px, std::optional<double> row_spacing_mm,
                                    std::optional<double> col_spacing_mm);

struct PredictionRecord {
  std::string image_id;     // SOPInstanceUID for DICOMs, the file stem for PNG/JPEG
  std::string source_file;  // file name only: full paths can carry names of people or sites
  int rows = 0, cols = 0;   // source image size
  std::string view_position;  // "PA", "AP", ... or "" (PNG/JPEG)
  // The image-level score the decision thresholds. With a gate (a classifier, or a joint
  // model's image head): the gate's probability, and positive == (probability >= threshold).
  // Without one (plain U-Net): the largest pixel probability, threshold null, and positive means
  // the post-processed mask is non-empty (pixel threshold, minimum area, triplet rule).
  float probability = 0;
  std::optional<float> threshold;  // the gate's operating threshold; null without a gate
  std::string decided_by = "mask";  // "gate" or "mask": which rule set `positive`
  float max_pixel_probability = 0;  // largest pixel of the segmenters' probability map
  bool positive = false;    // the post-processed mask is non-empty (always so when decided_by gate)
  long long mask_area_px = 0;
  std::optional<double> mask_area_cm2;
  AffectedSide side = AffectedSide::kNone;
  bool operator==(const PredictionRecord&) const = default;
};

// Object with the fields above by the same names; optional fields are null when absent, `side`
// is side_name(), probabilities are rounded to 6 decimals.
nlohmann::json to_json(const PredictionRecord& record);
// Inverse of to_json; errors (kBadInput) name `source` and the field.
Result<PredictionRecord> prediction_record_from_json(const nlohmann::json& j, std::string_view source);

}  // namespace pneumo
