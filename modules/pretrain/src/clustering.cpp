// DBSCAN and its eps search. No LibTorch: unit-tested in every build, sanitizers included.
#include "pneumo/pretrain/clustering.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <tuple>

namespace pneumo {
namespace {

constexpr int kUnvisited = -2;

Status check_points(const std::vector<double>& points, int dim) {
  if (dim < 1) return fail(ErrorCode::kInvalidArgument, "dbscan: dim must be >= 1, got " + std::to_string(dim));
  if (points.size() % static_cast<std::size_t>(dim) != 0) {
    return fail(ErrorCode::kInvalidArgument, "dbscan: " + std::to_string(points.size()) +
                                                 " values are not a whole number of points of dimension " +
                                                 std::to_string(dim));
  }
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (!std::isfinite(points[i])) {
      return fail(ErrorCode::kInvalidArgument,
                  "dbscan: value " + std::to_string(i % dim) + " of point " + std::to_string(i / dim) + " is not finite");
    }
  }
  return ok_status();
}

double distance(const double* a, const double* b, int dim) {
  double s = 0;
  for (int k = 0; k < dim; ++k) s += (a[k] - b[k]) * (a[k] - b[k]);
  return std::sqrt(s);
}

// The core of DBSCAN over any neighbourhood function (points in index order, clusters numbered as
// found). `neighbours(i, out)` fills `out` with every point within eps of i, i included.
template <typename Neighbours>
DbscanResult run_dbscan(std::size_t n, int min_points, Neighbours&& neighbours) {
  DbscanResult r;
  r.labels.assign(n, kUnvisited);
  std::vector<int> nb, nb2;
  std::deque<int> queue;
  for (std::size_t i = 0; i < n; ++i) {
    if (r.labels[i] != kUnvisited) continue;
    neighbours(static_cast<int>(i), nb);
    if (static_cast<int>(nb.size()) < min_points) {
      r.labels[i] = kNoise;
      continue;
    }
    const int c = r.clusters++;
    r.labels[i] = c;
    queue.assign(nb.begin(), nb.end());
    while (!queue.empty()) {
      const int j = queue.front();
      queue.pop_front();
      if (r.labels[j] == kNoise) r.labels[j] = c;  // border point
      if (r.labels[j] != kUnvisited) continue;
      r.labels[j] = c;
      neighbours(j, nb2);
      if (static_cast<int>(nb2.size()) >= min_points) {
        for (int k : nb2) {
          if (r.labels[k] == kUnvisited || r.labels[k] == kNoise) queue.push_back(k);
        }
      }
    }
  }
  r.cluster_sizes.assign(r.clusters, 0);
  for (int l : r.labels) {
    if (l == kNoise) {
      ++r.noise;
    } else {
      ++r.cluster_sizes[l];
    }
  }
  return r;
}

// Every point's distances to all points (itself included), sorted ascending.
struct NeighbourTable {
  struct Item {
    double dist;
    int index;
  };
  std::size_t n = 0;
  std::vector<Item> items;  // n rows of n

  NeighbourTable(const std::vector<double>& points, int dim) : n(points.size() / dim), items(n * n) {
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = i; j < n; ++j) {
        const double d = i == j ? 0.0 : distance(&points[i * dim], &points[j * dim], dim);
        items[i * n + j] = {d, static_cast<int>(j)};
        items[j * n + i] = {d, static_cast<int>(i)};
      }
    }
    for (std::size_t i = 0; i < n; ++i) {
      // Ties by index, so the order (and everything after) never depends on the sort.
      std::sort(items.begin() + i * n, items.begin() + (i + 1) * n,
                [](const Item& a, const Item& b) { return std::tie(a.dist, a.index) < std::tie(b.dist, b.index); });
    }
  }
  // Distance from i to its m-th nearest point (itself first); infinity when m > n.
  double core_distance(std::size_t i, int m) const {
    return static_cast<std::size_t>(m) > n ? INFINITY : items[i * n + (m - 1)].dist;
  }
  void within(int i, double eps, std::vector<int>& out) const {
    out.clear();
    const Item* row = &items[static_cast<std::size_t>(i) * n];
    for (std::size_t k = 0; k < n && row[k].dist <= eps; ++k) out.push_back(row[k].index);
  }
};

}  // namespace

Result<DbscanResult> dbscan(const std::vector<double>& points, int dim, double eps, int min_points) {
  if (auto st = check_points(points, dim); !st) return st.error();
  if (!(eps > 0) || !std::isfinite(eps)) {
    return fail(ErrorCode::kInvalidArgument, "dbscan: eps must be a positive number, got " + std::to_string(eps));
  }
  if (min_points < 1) {
    return fail(ErrorCode::kInvalidArgument, "dbscan: min_points must be >= 1, got " + std::to_string(min_points));
  }
  const std::size_t n = points.size() / dim;
  // Plain region queries (no table): an independent path from the search's, which tests compare.
  return run_dbscan(n, min_points, [&](int i, std::vector<int>& out) {
    out.clear();
    for (std::size_t j = 0; j < n; ++j) {
      if (distance(&points[i * dim], &points[j * dim], dim) <= eps) out.push_back(static_cast<int>(j));
    }
  });
}

Result<EpsSearchResult> search_dbscan_eps(const std::vector<double>& points, int dim, const EpsSearchOptions& options) {
  if (auto st = check_points(points, dim); !st) return st.error();
  if (options.target_clusters < 2) {
    return fail(ErrorCode::kInvalidArgument,
                "dbscan: the requested number of clusters must be >= 2, got " + std::to_string(options.target_clusters));
  }
  if (options.min_points.empty()) return fail(ErrorCode::kInvalidArgument, "dbscan: no min_points candidates given");
  for (int m : options.min_points) {
    if (m < 1) return fail(ErrorCode::kInvalidArgument, "dbscan: min_points must be >= 1, got " + std::to_string(m));
  }
  if (options.eps_candidates < 2) {
    return fail(ErrorCode::kInvalidArgument, "dbscan: eps_candidates must be >= 2");
  }
  const std::size_t n = points.size() / dim;
  if (n < 2) return fail(ErrorCode::kInvalidArgument, "dbscan: need at least 2 points, got " + std::to_string(n));
  if (n > kMaxSearchPoints) {
    return fail(ErrorCode::kInvalidArgument, "dbscan: eps search keeps O(n^2) distances; " + std::to_string(n) +
                                                 " points is more than " + std::to_string(kMaxSearchPoints));
  }
  const NeighbourTable table(points, dim);

  EpsSearchResult best;
  bool have = false;
  auto better = [&](const DbscanResult& r, int m, double eps) {
    if (!have) return true;
    const int target = options.target_clusters;
    const int da = std::abs(r.clusters - target), db = std::abs(best.clustering.clusters - target);
    return std::tie(da, r.noise, m, eps) < std::tie(db, best.clustering.noise, best.min_points, best.eps);
  };
  std::vector<EpsTrial> trials;
  for (int m : options.min_points) {
    std::vector<double> core(n);
    for (std::size_t i = 0; i < n; ++i) core[i] = table.core_distance(i, m);
    std::sort(core.begin(), core.end());
    std::vector<double> candidates;
    for (int k = 0; k < options.eps_candidates; ++k) {
      const std::size_t at = static_cast<std::size_t>(
          std::llround(static_cast<double>(k) * static_cast<double>(n - 1) / (options.eps_candidates - 1)));
      const double eps = core[at];
      if (!(eps > 0) || !std::isfinite(eps)) continue;
      if (!candidates.empty() && candidates.back() == eps) continue;
      candidates.push_back(eps);
    }
    for (double eps : candidates) {
      DbscanResult r = run_dbscan(n, m, [&](int i, std::vector<int>& out) { table.within(i, eps, out); });
      trials.push_back({m, eps, r.clusters, r.noise});
      if (better(r, m, eps)) {
        best.clustering = std::move(r);
        best.min_points = m;
        best.eps = eps;
        have = true;
      }
    }
  }
  if (!have) {
    // Every candidate eps was 0 (all points identical) or no point can be core: one run at a tiny eps.
    auto r = dbscan(points, dim, 1e-12, options.min_points.front());
    if (!r) return r.error();
    best.clustering = std::move(r.value());
    best.min_points = options.min_points.front();
    best.eps = 1e-12;
  }
  best.trials = std::move(trials);
  best.reached = best.clustering.clusters == options.target_clusters;
  best.rule =
      "for each min_points m, eps candidates are " + std::to_string(options.eps_candidates) +
      " evenly spaced quantiles (min to max) of the points' m-core distances; the (m, eps) with the cluster "
      "count nearest the target wins, ties to fewer noise points, then smaller m, then smaller eps";
  return best;
}

}  // namespace pneumo
