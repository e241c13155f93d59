// DBSCAN and a search for the eps that gives a requested number of clusters (no LibTorch).
//
//   std::vector<double> pts = {...};                      // n points of `dim` values, row-major
//   auto r = pneumo::dbscan(pts, /*dim=*/2, /*eps=*/0.5, /*min_points=*/3);
//   // r->labels[i]: cluster 0..clusters-1, or kNoise (-1)
//   pneumo::EpsSearchOptions opt;  opt.target_clusters = 14;
//   auto s = pneumo::search_dbscan_eps(pts, /*dim=*/10, opt);
//   // s->eps, s->min_points, s->reached (exactly 14 clusters?), s->clustering
//
// DBSCAN (Ester et al. 1996), as scikit-learn runs it: Euclidean distance; the neighbourhood of a
// point is every point at distance <= eps, the point itself included; a point is a core point when
// its neighbourhood holds at least min_points points. Clusters are grown from core points in index
// order and numbered in the order they are found, so the result is deterministic; a border point
// (not core, but within eps of a core point) joins the first cluster that reaches it; the rest is
// noise.
//
// The eps rule (search_dbscan_eps): DBSCAN takes eps and min_points, not a cluster count. For each
// min_points m in options.min_points, the candidates for eps are the m-core distances of the points
// (the distance from a point to its m-th nearest point, itself counted first: the smallest eps that
// makes it a core point) at `eps_candidates` evenly spaced quantiles from the smallest to the
// largest. Every (m, eps) pair is run; the winner has the cluster count nearest the target, ties
// broken by fewer noise points, then smaller m, then smaller eps. `reached` says whether the count
// is exactly the target; when it is not, the nearest count found is reported (never an error).
// Memory and time: the search keeps every point's sorted distances, O(n^2) (n <= kMaxSearchPoints).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

constexpr int kNoise = -1;
constexpr std::size_t kMaxSearchPoints = 8000;

struct DbscanResult {
  std::vector<int> labels;                 // one per point: 0..clusters-1 or kNoise
  int clusters = 0;
  long long noise = 0;                     // points labelled kNoise
  std::vector<long long> cluster_sizes;    // points per cluster (core + border)
};

// requires (else kInvalidArgument): dim >= 1, points.size() a multiple of dim, eps > 0 and
// finite, min_points >= 1, every value finite.
Result<DbscanResult> dbscan(const std::vector<double>& points, int dim, double eps, int min_points);

struct EpsSearchOptions {
  int target_clusters = 14;            // >= 2
  std::vector<int> min_points{5, 10, 3};
  int eps_candidates = 200;            // quantiles of the core distances tried per min_points, >= 2
};

struct EpsTrial {
  int min_points = 0;
  double eps = 0;
  int clusters = 0;
  long long noise = 0;
};

struct EpsSearchResult {
  double eps = 0;
  int min_points = 0;
  bool reached = false;                // clustering.clusters == target
  DbscanResult clustering;
  std::vector<EpsTrial> trials;        // every (min_points, eps) pair run, in order
  std::string rule;                    // the rule above in one sentence, for reports
};

// Errors (kInvalidArgument): as dbscan, target < 2, no min_points, fewer points than 2, more than
// kMaxSearchPoints points.
Result<EpsSearchResult> search_dbscan_eps(const std::vector<double>& points, int dim, const EpsSearchOptions& options);

}  // namespace pneumo
