#include "pneumo/eval/postprocess.hpp"

#include <charconv>
#include <climits>
#include <cstdlib>
#include <cmath>
#include <string>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "components.hpp"

namespace pneumo {
namespace detail {

int label_components_8(const std::uint8_t* pixels, int rows, int cols, std::vector<int>& labels,
                       std::vector<int>& areas) {
  labels.assign(static_cast<std::size_t>(rows) * cols, 0);
  areas.assign(1, rows * cols);
  if (rows <= 0 || cols <= 0) return 0;
  const cv::Mat image(rows, cols, CV_8U, const_cast<std::uint8_t*>(pixels));  // read only
  cv::Mat label_mat(rows, cols, CV_32S, labels.data());                       // writes into labels
  cv::Mat stats, centroids;
  const int count = cv::connectedComponentsWithStats(image, label_mat, stats, centroids, /*connectivity=*/8, CV_32S);
  CV_Assert(label_mat.data == reinterpret_cast<uchar*>(labels.data()));  // OpenCV must not reallocate
  areas.resize(static_cast<std::size_t>(count));
  for (int k = 0; k < count; ++k) areas[static_cast<std::size_t>(k)] = stats.at<int>(k, cv::CC_STAT_AREA);
  return count - 1;
}

}  // namespace detail

Mask threshold(const ProbMap& map, float t) {
  Mask mask(map.rows, map.cols);
  for (std::size_t i = 0; i < map.p.size(); ++i) mask.px[i] = map.p[i] > t ? 1 : 0;  // NaN > t is false
  return mask;
}

int remove_small_components(Mask& mask, int min_area) {
  if (min_area <= 1) return 0;
  std::vector<int> labels, areas;
  const int n = detail::label_components_8(mask.px.data(), mask.rows, mask.cols, labels, areas);
  int removed = 0;
  for (int k = 1; k <= n; ++k) removed += areas[static_cast<std::size_t>(k)] < min_area;
  if (removed == 0) return 0;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] != 0 && areas[static_cast<std::size_t>(labels[i])] < min_area) mask.px[i] = 0;
  return removed;
}

Mask triplet_mask(const ProbMap& map, float top_threshold, float bottom_threshold, int min_area) {
  long long above_top = 0;
  for (float v : map.p) above_top += v > top_threshold;
  if (above_top < min_area) return Mask(map.rows, map.cols);
  return threshold(map, bottom_threshold);
}

Mask largest_component(const Mask& mask) {
  std::vector<int> labels, areas;
  const int n = detail::label_components_8(mask.px.data(), mask.rows, mask.cols, labels, areas);
  Mask out(mask.rows, mask.cols);
  if (n == 0) return out;
  int best = 1;
  for (int k = 2; k <= n; ++k)
    if (areas[static_cast<std::size_t>(k)] > areas[static_cast<std::size_t>(best)]) best = k;
  for (std::size_t i = 0; i < labels.size(); ++i) out.px[i] = labels[i] == best ? 1 : 0;
  return out;
}

Mask peak_region(const ProbMap& map) {
  Mask out(map.rows, map.cols);
  if (map.p.empty()) return out;
  std::size_t argmax = 0;
  float peak = -1.0f;
  for (std::size_t i = 0; i < map.p.size(); ++i) {
    if (map.p[i] > peak) {  // NaN never wins
      peak = map.p[i];
      argmax = i;
    }
  }
  if (!(peak > 0.0f)) {
    out.px[argmax] = 1;
    return out;
  }
  const float half = peak * 0.5f;
  for (std::size_t i = 0; i < map.p.size(); ++i) out.px[i] = map.p[i] >= half ? 1 : 0;
  return out;
}

Mask apply_postprocess(const ProbMap& map, std::optional<float> classifier_prob, const PostprocessParams& params) {
  if (classifier_prob && *classifier_prob < params.classifier_threshold) return Mask(map.rows, map.cols);
  Mask mask = params.triplet
                  ? triplet_mask(map, params.top_threshold, params.bottom_threshold, params.triplet_min_area)
                  : threshold(map, params.pixel_threshold);
  remove_small_components(mask, params.min_component_area);
  if (!classifier_prob || count_nonzero(mask) > 0) return mask;
  Mask fallback = largest_component(threshold(map, params.triplet ? params.bottom_threshold : params.pixel_threshold));
  if (count_nonzero(fallback) > 0) return fallback;
  return peak_region(map);
}

namespace {

// The shortest decimal that reads back as the same float: 0.1f is written 0.1, not
// 0.10000000149011612 (what widening to double prints), and from_json(to_json(p)) == p still.
double shortest_decimal(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::strtod(std::string(buf, r.ptr).c_str(), nullptr);
}

}  // namespace

nlohmann::json to_json(const PostprocessParams& p) {
  return nlohmann::json{{"pixel_threshold", shortest_decimal(p.pixel_threshold)},
                        {"min_component_area", p.min_component_area},
                        {"triplet", p.triplet},
                        {"top_threshold", shortest_decimal(p.top_threshold)},
                        {"bottom_threshold", shortest_decimal(p.bottom_threshold)},
                        {"triplet_min_area", p.triplet_min_area},
                        {"classifier_threshold", shortest_decimal(p.classifier_threshold)}};
}

Result<PostprocessParams> postprocess_params_from_json(const nlohmann::json& j, std::string_view source) {
  const std::string where(source);
  auto bad = [&](const std::string& field, const std::string& expected, const nlohmann::json& got) {
    return fail(ErrorCode::kBadInput, where + ": field '" + field + "': expected " + expected + ", got " + got.dump());
  };
  if (!j.is_object()) return fail(ErrorCode::kBadInput, where + ": expected a JSON object, got " + j.dump());

  PostprocessParams p;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    float* unit_field = key == "pixel_threshold"        ? &p.pixel_threshold
                        : key == "top_threshold"        ? &p.top_threshold
                        : key == "bottom_threshold"     ? &p.bottom_threshold
                        : key == "classifier_threshold" ? &p.classifier_threshold
                                                        : nullptr;
    int* area_field = key == "min_component_area" ? &p.min_component_area
                      : key == "triplet_min_area" ? &p.triplet_min_area
                                                  : nullptr;
    if (unit_field) {
      if (!v.is_number() || !(v.get<double>() >= 0.0 && v.get<double>() <= 1.0))
        return bad(key, "a number in [0, 1]", v);
      *unit_field = v.get<float>();
    } else if (area_field) {
      if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > INT_MAX)
        return bad(key, "a non-negative integer pixel count", v);
      *area_field = v.get<int>();
    } else if (key == "triplet") {
      if (!v.is_boolean()) return bad(key, "true or false", v);
      p.triplet = v.get<bool>();
    } else {
      return fail(ErrorCode::kBadInput,
                  where + ": unknown field '" + key +
                      "'; expected pixel_threshold, min_component_area, triplet, top_threshold, bottom_threshold, "
                      "triplet_min_area or classifier_threshold");
    }
  }
  return p;
}

}  // namespace pneumo
