#include "pneumo/eval/search.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "components.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/eval/metrics.hpp"

namespace pneumo {
namespace {

// Pixel counts of one image above each grid threshold, and its components per mask threshold.
struct ImageStats {
  long long truth_area = 0;
  std::vector<long long> above;        // [threshold index] count(p > t)
  std::vector<long long> truth_above;  // [threshold index] count(p > t and truth)
  // [mask threshold index] components of (p > t) sorted by area descending, with prefix sums,
  // so "keep components with area >= a" is one binary search. Empty when no component filter.
  struct Components {
    std::vector<int> areas_desc;
    std::vector<long long> area_prefix;   // area_prefix[k] = sum of the first k areas
    std::vector<long long> inter_prefix;  // same for their overlap with the truth
  };
  std::vector<Components> components;
  // apply_postprocess's last resort for an open gate: peak_region(probs) and its overlap.
  long long peak_area = 0, peak_intersection = 0;
};

std::string fmt_float(float v) { return std::to_string(v); }

Status check_unit_list(const std::vector<float>& values, const char* name) {
  if (values.empty()) return fail(ErrorCode::kInvalidArgument, std::string("search grid: ") + name + " is empty");
  for (float v : values)
    if (!(v >= 0.0f && v <= 1.0f))
      return fail(ErrorCode::kInvalidArgument,
                  std::string("search grid: ") + name + " has " + fmt_float(v) + "; expected values in [0, 1]");
  return ok_status();
}

Status check_area_list(const std::vector<int>& values, const char* name) {
  if (values.empty()) return fail(ErrorCode::kInvalidArgument, std::string("search grid: ") + name + " is empty");
  for (int v : values)
    if (v < 0)
      return fail(ErrorCode::kInvalidArgument, std::string("search grid: ") + name + " has " + std::to_string(v) +
                                                   "; expected non-negative pixel counts");
  return ok_status();
}

std::vector<float> sorted_unique(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::size_t index_of(const std::vector<float>& sorted, float v) {
  return static_cast<std::size_t>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
}

ImageStats compute_stats(const EvalSample& s, const std::vector<float>& thresholds,
                         const std::vector<float>& mask_thresholds, bool need_components) {
  ImageStats st;
  const std::size_t k = thresholds.size(), n = s.probs.p.size();
  // bucket[j] = pixels exceeding exactly the j smallest thresholds (thresholds[i] < v for i < j).
  std::vector<long long> bucket(k + 1, 0), truth_bucket(k + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const float v = s.probs.p[i];
    const std::size_t j = index_of(thresholds, v);  // NaN exceeds none, as in threshold()
    ++bucket[j];
    if (s.truth.px[i] != 0) {
      ++truth_bucket[j];
      ++st.truth_area;
    }
  }
  st.above.assign(k, 0);
  st.truth_above.assign(k, 0);
  long long run = 0, truth_run = 0;
  for (std::size_t j = k; j-- > 0;) {  // count(p > thresholds[j]) = sum of buckets above j
    run += bucket[j + 1];
    truth_run += truth_bucket[j + 1];
    st.above[j] = run;
    st.truth_above[j] = truth_run;
  }
  if (s.classifier_prob) {
    const Mask peak = peak_region(s.probs);
    for (std::size_t i = 0; i < n; ++i) {
      st.peak_area += peak.px[i];
      st.peak_intersection += (peak.px[i] != 0 && s.truth.px[i] != 0);
    }
  }
  if (!need_components) return st;

  std::vector<int> labels, areas;
  for (float t : mask_thresholds) {
    const Mask fg = threshold(s.probs, t);
    const int count = detail::label_components_8(fg.px.data(), fg.rows, fg.cols, labels, areas);
    std::vector<long long> inter(static_cast<std::size_t>(count) + 1, 0);
    for (std::size_t i = 0; i < labels.size(); ++i)
      if (labels[i] != 0 && s.truth.px[i] != 0) ++inter[static_cast<std::size_t>(labels[i])];
    std::vector<int> order(static_cast<std::size_t>(count));
    for (int c = 0; c < count; ++c) order[static_cast<std::size_t>(c)] = c + 1;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return areas[static_cast<std::size_t>(a)] > areas[static_cast<std::size_t>(b)];
    });
    ImageStats::Components comp;
    comp.area_prefix.push_back(0);
    comp.inter_prefix.push_back(0);
    for (int c : order) {
      comp.areas_desc.push_back(areas[static_cast<std::size_t>(c)]);
      comp.area_prefix.push_back(comp.area_prefix.back() + areas[static_cast<std::size_t>(c)]);
      comp.inter_prefix.push_back(comp.inter_prefix.back() + inter[static_cast<std::size_t>(c)]);
    }
    st.components.push_back(std::move(comp));
  }
  return st;
}

}  // namespace

Result<SearchResult> search_postprocess(const std::vector<EvalSample>& samples, SearchGrid grid) {
  if (samples.empty()) return fail(ErrorCode::kInvalidArgument, "search_postprocess: no samples");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const EvalSample& s = samples[i];
    if (s.truth.rows != s.probs.rows || s.truth.cols != s.probs.cols || s.truth.px.size() != s.probs.p.size() ||
        s.probs.p.size() != static_cast<std::size_t>(s.probs.rows) * static_cast<std::size_t>(s.probs.cols))
      return fail(ErrorCode::kInvalidArgument,
                  "search_postprocess: sample " + std::to_string(i) + ": truth is " + std::to_string(s.truth.rows) +
                      "x" + std::to_string(s.truth.cols) + " but probs are " + std::to_string(s.probs.rows) + "x" +
                      std::to_string(s.probs.cols) + "; expected the same size");
  }
  const bool any_classifier =
      std::any_of(samples.begin(), samples.end(), [](const EvalSample& s) { return s.classifier_prob.has_value(); });
  if (any_classifier) {
    if (auto st = check_unit_list(grid.classifier_thresholds, "classifier_thresholds"); !st) return st.error();
  } else {
    grid.classifier_thresholds = {PostprocessParams{}.classifier_threshold};  // never used: nothing to gate
  }
  if (auto st = check_unit_list(grid.bottom_thresholds, "bottom_thresholds"); !st) return st.error();
  if (auto st = check_area_list(grid.min_component_areas, "min_component_areas"); !st) return st.error();
  if (grid.triplet) {
    if (auto st = check_unit_list(grid.top_thresholds, "top_thresholds"); !st) return st.error();
    if (auto st = check_area_list(grid.triplet_min_areas, "triplet_min_areas"); !st) return st.error();
  }

  // Enumerate the grid in the documented order.
  std::vector<PostprocessParams> points;
  for (float ct : grid.classifier_thresholds) {
    PostprocessParams p;
    p.classifier_threshold = ct;
    p.triplet = grid.triplet;
    if (grid.triplet) {
      for (float top : grid.top_thresholds)
        for (float bottom : grid.bottom_thresholds) {
          if (bottom > top) continue;
          for (int tma : grid.triplet_min_areas)
            for (int mca : grid.min_component_areas) {
              p.top_threshold = top;
              p.bottom_threshold = bottom;
              p.triplet_min_area = tma;
              p.min_component_area = mca;
              points.push_back(p);
            }
        }
    } else {
      for (float t : grid.bottom_thresholds)
        for (int mca : grid.min_component_areas) {
          p.pixel_threshold = t;
          p.min_component_area = mca;
          points.push_back(p);
        }
    }
  }
  if (points.empty())
    return fail(ErrorCode::kInvalidArgument, "search grid: no bottom threshold is <= any top threshold");

  const std::vector<float> mask_thresholds = sorted_unique(grid.bottom_thresholds);
  std::vector<float> all_thresholds = mask_thresholds;
  if (grid.triplet) all_thresholds.insert(all_thresholds.end(), grid.top_thresholds.begin(), grid.top_thresholds.end());
  all_thresholds = sorted_unique(all_thresholds);
  // An open gate never leaves a mask empty (apply_postprocess step 4), which needs components.
  const bool need_components =
      any_classifier ||
      std::any_of(grid.min_component_areas.begin(), grid.min_component_areas.end(), [](int a) { return a > 1; });

  const int threads = grid.threads > 0 ? grid.threads : default_threads();
  std::vector<ImageStats> stats(samples.size());
  parallel_for(samples.size(), threads, [&](std::size_t i) {
    stats[i] = compute_stats(samples[i], all_thresholds, mask_thresholds, need_components);
  });

  SearchResult result;
  result.table.resize(points.size());
  parallel_for(points.size(), threads, [&](std::size_t g) {
    const PostprocessParams& p = points[g];
    const float mask_t = p.triplet ? p.bottom_threshold : p.pixel_threshold;
    const std::size_t all_m = index_of(all_thresholds, mask_t);
    const std::size_t comp_m = index_of(mask_thresholds, mask_t);
    const std::size_t top_i = p.triplet ? index_of(all_thresholds, p.top_threshold) : 0;
    double sum = 0;  // summed in sample order, as mean() does, so values match mean_dice exactly
    for (std::size_t i = 0; i < samples.size(); ++i) {
      const ImageStats& st = stats[i];
      OverlapCounts c;
      c.truth_area = st.truth_area;
      const auto& cls = samples[i].classifier_prob;
      const bool gate_closed = cls && *cls < p.classifier_threshold;
      const bool triplet_empty = p.triplet && st.above[top_i] < static_cast<long long>(p.triplet_min_area);
      if (!gate_closed && !triplet_empty) {
        if (p.min_component_area > 1) {
          const auto& comp = st.components[comp_m];
          // components kept: the leading run of areas_desc with area >= min_component_area
          const std::size_t kept = static_cast<std::size_t>(
              std::partition_point(comp.areas_desc.begin(), comp.areas_desc.end(),
                                   [&](int a) { return a >= p.min_component_area; }) -
              comp.areas_desc.begin());
          c.predicted_area = comp.area_prefix[kept];
          c.intersection = comp.inter_prefix[kept];
        } else {
          c.predicted_area = st.above[all_m];
          c.intersection = st.truth_above[all_m];
        }
      }
      if (cls && !gate_closed && c.predicted_area == 0) {  // apply_postprocess step 4
        const auto& comp = st.components[comp_m];
        if (!comp.areas_desc.empty()) {
          c.predicted_area = comp.areas_desc.front();
          c.intersection = comp.inter_prefix[1];
        } else {
          c.predicted_area = st.peak_area;
          c.intersection = st.peak_intersection;
        }
      }
      sum += dice(c);
    }
    result.table[g] = {p, sum / static_cast<double>(samples.size())};
  });

  std::size_t best = 0;
  for (std::size_t g = 1; g < result.table.size(); ++g)
    if (result.table[g].mean_dice > result.table[best].mean_dice) best = g;
  result.best_params = result.table[best].params;
  result.best_mean_dice = result.table[best].mean_dice;
  return result;
}

}  // namespace pneumo
