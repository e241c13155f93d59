// Principal component analysis through LibTorch's SVD (torch::linalg_svd, float64), with a plain
// interface (no torch types).
//
//   auto p = pneumo::pca(codes, /*dim=*/1280, /*components=*/10);   // codes: n x dim, row-major
//   if (!p) return p.error();
//   p->projected;                 // n x components: (x - mean) . basis^T
//   p->explained_variance_ratio;  // per component, in [0, 1], summing to <= 1
//
// The data is centred (mean removed, not scaled). Components are sorted by variance; each has
// its sign fixed so that its largest-magnitude coordinate is positive (deterministic output).
// explained_variance = s^2 / (n - 1); explained_variance_ratio = s^2 / sum of all s^2.
//
// Thread-safety: pure (uses torch's intra-op threads).
#pragma once

#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct PcaResult {
  int components = 0;
  int dim = 0;
  std::vector<double> mean;                      // dim
  std::vector<double> basis;                     // components x dim, row-major, orthonormal rows
  std::vector<double> explained_variance;        // components
  std::vector<double> explained_variance_ratio;  // components
  std::vector<double> projected;                 // n x components, row-major
};

// requires (else kInvalidArgument): dim >= 1, points a whole number (>= 2) of points, all values
// finite, 1 <= components <= min(n, dim).
Result<PcaResult> pca(const std::vector<double>& points, int dim, int components);

}  // namespace pneumo
