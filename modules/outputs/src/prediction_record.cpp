// PredictionRecord JSON and affected_side (OpenCV connected components stay in here).
#include "pneumo/outputs/prediction_record.hpp"

#include <cmath>
#include <opencv2/imgproc.hpp>
#include <string>

#include "pneumo/core/strings.hpp"

namespace pneumo {
namespace {

double round6(double v) { return std::round(v * 1e6) / 1e6; }

bool is_lateral(std::string_view view_position) {
  const std::string v = to_lower(trim(view_position));
  return v == "ll" || v == "rl" || v == "lateral" || v == "lat" || v == "lld" || v == "rld";
}

}  // namespace

const char* side_name(AffectedSide side) {
  switch (side) {
    case AffectedSide::kNone: return "none";
    case AffectedSide::kRight: return "right";
    case AffectedSide::kLeft: return "left";
    case AffectedSide::kBilateral: return "bilateral";
    case AffectedSide::kUndetermined: return "undetermined";
  }
  return "none";
}

Result<AffectedSide> parse_side(std::string_view name) {
  for (AffectedSide s : {AffectedSide::kNone, AffectedSide::kRight, AffectedSide::kLeft, AffectedSide::kBilateral,
                         AffectedSide::kUndetermined}) {
    if (name == side_name(s)) return s;
  }
  return fail(ErrorCode::kBadInput, "side: expected none, right, left, bilateral or undetermined, got '" +
                                        std::string(name) + "'");
}

AffectedSide affected_side(const Mask& mask, std::string_view view_position) {
  if (mask.empty() || count_nonzero(mask) == 0) return AffectedSide::kNone;
  if (is_lateral(view_position)) return AffectedSide::kUndetermined;
  cv::Mat m(mask.rows, mask.cols, CV_8UC1);
  for (std::size_t i = 0; i < mask.px.size(); ++i) m.data[i] = mask.px[i] ? 1 : 0;
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(m, labels, stats, centroids, /*connectivity=*/8, CV_32S);
  long long image_left = 0, image_right = 0;  // areas by the half holding each component's centroid
  const double middle = (mask.cols - 1) / 2.0;
  for (int label = 1; label < n; ++label) {
    const long long area = stats.at<int>(label, cv::CC_STAT_AREA);
    const double cx = centroids.at<double>(label, 0);
    if (cx < middle) {
      image_left += area;
    } else if (cx > middle) {
      image_right += area;
    } else {  // exactly on the midline: split evenly
      image_left += area / 2;
      image_right += area - area / 2;
    }
  }
  const double total = static_cast<double>(image_left + image_right);
  if (image_left >= kBilateralShare * total && image_right >= kBilateralShare * total) {
    return AffectedSide::kBilateral;
  }
  // Frontal view, standard display: the image's left half is the patient's right.
  return image_left > image_right ? AffectedSide::kRight : AffectedSide::kLeft;
}

std::optional<double> mask_area_cm2(long long area_px, std::optional<double> row_spacing_mm,
                                    std::optional<double> col_spacing_mm) {
  if (!row_spacing_mm || !col_spacing_mm || !(*row_spacing_mm > 0) || !(*col_spacing_mm > 0) ||
      !std::isfinite(*row_spacing_mm) || !std::isfinite(*col_spacing_mm)) {
    return std::nullopt;
  }
  return static_cast<double>(area_px) * *row_spacing_mm * *col_spacing_mm / 100.0;
}

nlohmann::json to_json(const PredictionRecord& r) {
  nlohmann::json j;
  j["image_id"] = r.image_id;
  j["source_file"] = r.source_file;
  j["rows"] = r.rows;
  j["cols"] = r.cols;
  j["view_position"] = r.view_position;
  j["probability"] = round6(r.probability);
  j["threshold"] = r.threshold ? nlohmann::json(round6(*r.threshold)) : nlohmann::json(nullptr);
  j["decided_by"] = r.decided_by;
  j["max_pixel_probability"] = round6(r.max_pixel_probability);
  j["positive"] = r.positive;
  j["mask_area_px"] = r.mask_area_px;
  j["mask_area_cm2"] = r.mask_area_cm2 ? nlohmann::json(round6(*r.mask_area_cm2)) : nlohmann::json(nullptr);
  j["side"] = side_name(r.side);
  return j;
}

Result<PredictionRecord> prediction_record_from_json(const nlohmann::json& j, std::string_view source) {
  const std::string where(source);
  if (!j.is_object()) return fail(ErrorCode::kBadInput, where + ": expected a prediction record object");
  auto bad = [&](const char* field, const char* expected) {
    return fail(ErrorCode::kBadInput, where + ": field '" + field + "': expected " + expected);
  };
  PredictionRecord r;
  auto string_field = [&](const char* f, std::string& out) -> bool {
    if (!j.contains(f) || !j[f].is_string()) return false;
    out = j[f].get<std::string>();
    return true;
  };
  if (!string_field("image_id", r.image_id)) return bad("image_id", "a string");
  if (!string_field("source_file", r.source_file)) return bad("source_file", "a string");
  if (!string_field("view_position", r.view_position)) return bad("view_position", "a string");
  if (!j.contains("rows") || !j["rows"].is_number_integer()) return bad("rows", "an integer");
  if (!j.contains("cols") || !j["cols"].is_number_integer()) return bad("cols", "an integer");
  r.rows = j["rows"].get<int>();
  r.cols = j["cols"].get<int>();
  if (!j.contains("probability") || !j["probability"].is_number()) return bad("probability", "a number");
  r.probability = j["probability"].get<float>();
  if (j.contains("threshold") && !j["threshold"].is_null()) {
    if (!j["threshold"].is_number()) return bad("threshold", "a number or null");
    r.threshold = j["threshold"].get<float>();
  }
  if (j.contains("decided_by")) {
    if (!string_field("decided_by", r.decided_by) || (r.decided_by != "gate" && r.decided_by != "mask")) {
      return bad("decided_by", "\"gate\" or \"mask\"");
    }
  }
  if (j.contains("max_pixel_probability")) {
    if (!j["max_pixel_probability"].is_number()) return bad("max_pixel_probability", "a number");
    r.max_pixel_probability = j["max_pixel_probability"].get<float>();
  }
  if (!j.contains("positive") || !j["positive"].is_boolean()) return bad("positive", "true or false");
  r.positive = j["positive"].get<bool>();
  if (!j.contains("mask_area_px") || !j["mask_area_px"].is_number_integer()) return bad("mask_area_px", "an integer");
  r.mask_area_px = j["mask_area_px"].get<long long>();
  if (j.contains("mask_area_cm2") && !j["mask_area_cm2"].is_null()) {
    if (!j["mask_area_cm2"].is_number()) return bad("mask_area_cm2", "a number or null");
    r.mask_area_cm2 = j["mask_area_cm2"].get<double>();
  }
  std::string side;
  if (!string_field("side", side)) return bad("side", "a string");
  auto parsed = parse_side(side);
  if (!parsed) return fail(ErrorCode::kBadInput, where + ": field 'side': " + parsed.error().message);
  r.side = parsed.value();
  return r;
}

}  // namespace pneumo
