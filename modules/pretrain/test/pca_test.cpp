// PCA (torch SVD) against hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "pneumo/pretrain/pca.hpp"

namespace pneumo {
namespace {

// (2,0), (-2,0), (0,1), (0,-1): mean 0; var x = 8/3, var y = 2/3, cov 0 -> components [1,0] and
// [0,1] (signs: largest coordinate positive), ratios 0.8 and 0.2, PC1 scores 2, -2, 0, 0.
TEST(Pca, AxisAlignedHandComputed) {
  auto p = pca({2, 0, -2, 0, 0, 1, 0, -1}, 2, 2);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_NEAR(p->mean[0], 0, 1e-12);
  EXPECT_NEAR(p->basis[0], 1, 1e-12);
  EXPECT_NEAR(p->basis[1], 0, 1e-12);
  EXPECT_NEAR(std::abs(p->basis[3]), 1, 1e-12);
  EXPECT_NEAR(p->explained_variance[0], 8.0 / 3, 1e-12);
  EXPECT_NEAR(p->explained_variance[1], 2.0 / 3, 1e-12);
  EXPECT_NEAR(p->explained_variance_ratio[0], 0.8, 1e-12);
  EXPECT_NEAR(p->explained_variance_ratio[1], 0.2, 1e-12);
  const std::vector<double> pc1 = {p->projected[0], p->projected[2], p->projected[4], p->projected[6]};
  EXPECT_NEAR(pc1[0], 2, 1e-12);
  EXPECT_NEAR(pc1[1], -2, 1e-12);
  EXPECT_NEAR(pc1[2], 0, 1e-12);
  EXPECT_NEAR(pc1[3], 0, 1e-12);
}

// Points on y = x (offset by mean (3, 5)) with a small orthogonal spread: PC1 = [1,1]/sqrt2 with
// variance 20/5 = 4, PC2 variance 0.04/5 = 0.008, ratio 20/20.04.
TEST(Pca, RotatedHandComputed) {
  std::vector<double> pts = {1, 1, -1, -1, 2, 2, -2, -2, 0.1, -0.1, -0.1, 0.1};
  for (std::size_t i = 0; i < pts.size(); i += 2) {
    pts[i] += 3;
    pts[i + 1] += 5;
  }
  auto p = pca(pts, 2, 1);
  ASSERT_TRUE(p.ok());
  EXPECT_NEAR(p->mean[0], 3, 1e-12);
  EXPECT_NEAR(p->mean[1], 5, 1e-12);
  EXPECT_NEAR(p->basis[0], std::sqrt(0.5), 1e-9);
  EXPECT_NEAR(p->basis[1], std::sqrt(0.5), 1e-9);
  EXPECT_NEAR(p->explained_variance[0], 4.0, 1e-9);
  EXPECT_NEAR(p->explained_variance_ratio[0], 20.0 / 20.04, 1e-9);
  EXPECT_NEAR(p->projected[2], 2 * std::sqrt(2.0), 1e-9);  // point (2,2), one component per point
}

TEST(Pca, RatiosSumAtMostOneAndBasisOrthonormal) {
  std::mt19937_64 rng(4242);
  std::normal_distribution<double> g;
  const int n = 50, dim = 6;
  std::vector<double> pts(n * dim);
  for (auto& v : pts) v = g(rng);
  for (int k : {1, 3, 6}) {
    auto p = pca(pts, dim, k);
    ASSERT_TRUE(p.ok());
    double sum = 0;
    for (int i = 0; i < k; ++i) {
      sum += p->explained_variance_ratio[i];
      if (i) EXPECT_GE(p->explained_variance[i - 1], p->explained_variance[i]);
    }
    EXPECT_LE(sum, 1 + 1e-12);
    if (k == dim) EXPECT_NEAR(sum, 1, 1e-9);
    for (int a = 0; a < k; ++a) {
      for (int b = 0; b < k; ++b) {
        double dot = 0;
        for (int d = 0; d < dim; ++d) dot += p->basis[a * dim + d] * p->basis[b * dim + d];
        EXPECT_NEAR(dot, a == b ? 1 : 0, 1e-9);
      }
    }
  }
}

TEST(Pca, RejectsBadArguments) {
  EXPECT_FALSE(pca({1, 2, 3}, 2, 1).ok());
  EXPECT_FALSE(pca({1, 2}, 2, 1).ok());          // one point
  EXPECT_FALSE(pca({1, 2, 3, 4}, 2, 3).ok());    // more components than dims
  EXPECT_FALSE(pca({1, 2, 3, 4}, 2, 0).ok());
}

}  // namespace
}  // namespace pneumo
