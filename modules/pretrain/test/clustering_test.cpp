// DBSCAN on hand-checked points, and the eps search on separable blobs.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "pneumo/pretrain/clustering.hpp"

namespace pneumo {
namespace {

// Two tight groups on a line plus one far point:
//   A = {0, 1, 2} (spacing 1), B = {10, 11} (spacing 1), C = {30}.
// eps = 1.5, min_points = 2: every point of A and B has a neighbour within 1.5 -> core; C alone ->
// noise. So labels: A -> 0, B -> 1, C -> noise.
TEST(Dbscan, HandCheckedLine) {
  const std::vector<double> pts = {0, 1, 2, 10, 11, 30};
  auto r = dbscan(pts, 1, 1.5, 2);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->labels, (std::vector<int>{0, 0, 0, 1, 1, kNoise}));
  EXPECT_EQ(r->clusters, 2);
  EXPECT_EQ(r->noise, 1);
  EXPECT_EQ(r->cluster_sizes, (std::vector<long long>{3, 2}));
}

// min_points = 3 (self included): in A the middle point 1 has {0,1,2} -> core; 0 and 2 have only
// 2 points -> border of the cluster grown from 1. In B, 10 and 11 have 2 points each -> noise.
TEST(Dbscan, BorderPointsAndNoise) {
  const std::vector<double> pts = {0, 1, 2, 10, 11, 30};
  auto r = dbscan(pts, 1, 1.5, 3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->labels, (std::vector<int>{0, 0, 0, kNoise, kNoise, kNoise}));
  EXPECT_EQ(r->clusters, 1);
  EXPECT_EQ(r->noise, 3);
}

// 2-D: a unit square's corners (side 1) and a pair 5 apart from it. eps = 1 reaches the square's
// edges (distance exactly 1 counts: <= eps) but not its diagonals (1.414).
TEST(Dbscan, TwoDimensionsBoundaryInclusive) {
  const std::vector<double> pts = {0, 0, 1, 0, 0, 1, 1, 1, 6, 0, 6, 0.5};
  auto r = dbscan(pts, 2, 1.0, 3);
  ASSERT_TRUE(r.ok());
  // Each corner has itself + 2 edge neighbours = 3 -> all core; the pair has 2 -> noise.
  EXPECT_EQ(r->labels, (std::vector<int>{0, 0, 0, 0, kNoise, kNoise}));
  auto r2 = dbscan(pts, 2, 0.999, 2);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->labels, (std::vector<int>{kNoise, kNoise, kNoise, kNoise, 0, 0}));
}

TEST(Dbscan, RejectsBadArguments) {
  EXPECT_FALSE(dbscan({1, 2, 3}, 2, 1.0, 2).ok());  // not a whole number of points
  EXPECT_FALSE(dbscan({1, 2}, 1, 0.0, 2).ok());
  EXPECT_FALSE(dbscan({1, 2}, 1, 1.0, 0).ok());
  EXPECT_FALSE(dbscan({1, NAN}, 1, 1.0, 1).ok());
  auto r = dbscan({1, 2}, 0, 1.0, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

// k well separated Gaussian blobs in 3-D (sd 0.3, centres 20 apart): the search must find
// exactly k clusters and put every point of a blob into one cluster.
std::vector<double> blobs(int k, int per_blob, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.3);
  std::vector<double> pts;
  for (int b = 0; b < k; ++b) {
    for (int i = 0; i < per_blob; ++i) {
      pts.push_back(20.0 * b + noise(rng));
      pts.push_back(20.0 * (b % 3) + noise(rng));
      pts.push_back(noise(rng));
    }
  }
  return pts;
}

TEST(EpsSearch, ReachesRequestedCountOnSeparableBlobs) {
  for (int k : {2, 5, 14}) {
    const std::uint64_t seed = 1000 + k;
    const auto pts = blobs(k, 30, seed);
    EpsSearchOptions opt;
    opt.target_clusters = k;
    auto r = search_dbscan_eps(pts, 3, opt);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_TRUE(r->reached) << "seed " << seed << ": " << r->clustering.clusters << " clusters";
    EXPECT_EQ(r->clustering.clusters, k) << "seed " << seed;
    EXPECT_EQ(r->clustering.noise, 0) << "seed " << seed;  // ties go to less noise
    for (int b = 0; b < k; ++b) {
      for (int i = 1; i < 30; ++i) EXPECT_EQ(r->clustering.labels[b * 30 + i], r->clustering.labels[b * 30]);
    }
    // The winner is an ordinary DBSCAN run: the plain function agrees with the search's table.
    auto again = dbscan(pts, 3, r->eps, r->min_points);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->labels, r->clustering.labels);
    EXPECT_FALSE(r->rule.empty());
    EXPECT_FALSE(r->trials.empty());
  }
}

// 3 blobs of 10 points cannot make 10 clusters with min_points 5: the nearest count found is
// reported, reached = false, no error.
TEST(EpsSearch, ReportsNearestWhenImpossible) {
  const auto pts = blobs(3, 10, 77);
  EpsSearchOptions opt;
  opt.target_clusters = 10;
  opt.min_points = {5};
  auto r = search_dbscan_eps(pts, 3, opt);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->reached);
  EXPECT_EQ(r->clustering.clusters, 3);  // one per blob; the chosen run is the trial with the most clusters
  int best = 0;
  for (const auto& t : r->trials) best = std::max(best, t.clusters);
  EXPECT_EQ(best, r->clustering.clusters);
}

TEST(EpsSearch, RejectsTooFewClustersRequested) {
  EpsSearchOptions opt;
  opt.target_clusters = 1;
  auto r = search_dbscan_eps(blobs(2, 10, 3), 3, opt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(">= 2"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace pneumo
