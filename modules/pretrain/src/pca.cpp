// PCA via torch::linalg_svd. A small LibTorch translation unit.
#include "pneumo/pretrain/pca.hpp"

#include <torch/torch.h>

#include <cmath>
#include <string>

namespace pneumo {

Result<PcaResult> pca(const std::vector<double>& points, int dim, int components) {
  if (dim < 1) return fail(ErrorCode::kInvalidArgument, "pca: dim must be >= 1");
  if (points.size() % static_cast<std::size_t>(dim) != 0) {
    return fail(ErrorCode::kInvalidArgument, "pca: values are not a whole number of points of dimension " + std::to_string(dim));
  }
  const auto n = static_cast<int64_t>(points.size() / dim);
  if (n < 2) return fail(ErrorCode::kInvalidArgument, "pca: need at least 2 points, got " + std::to_string(n));
  if (components < 1 || components > std::min<int64_t>(n, dim)) {
    return fail(ErrorCode::kInvalidArgument, "pca: components must be in 1.." + std::to_string(std::min<int64_t>(n, dim)) +
                                                 ", got " + std::to_string(components));
  }
  for (double v : points) {
    if (!std::isfinite(v)) return fail(ErrorCode::kInvalidArgument, "pca: a value is not finite");
  }
  torch::NoGradGuard no_grad;
  auto x = torch::from_blob(const_cast<double*>(points.data()), {n, dim}, torch::kFloat64).clone();  // [n, dim]
  auto mean = x.mean(0);                                                                            // [dim]
  auto centred = x - mean;
  auto [u, s, vh] = torch::linalg_svd(centred, /*full_matrices=*/false);  // s [min(n,dim)], vh [min, dim]
  auto basis = vh.slice(0, 0, components).clone();                        // [k, dim]
  // Sign: largest-magnitude coordinate positive.
  auto idx = basis.abs().argmax(1);                            // [k]
  auto signs = basis.gather(1, idx.unsqueeze(1)).sign();       // [k, 1]
  signs = torch::where(signs == 0, torch::ones_like(signs), signs);
  basis = basis * signs;
  auto projected = torch::matmul(centred, basis.transpose(0, 1)).contiguous();  // [n, k]
  auto s2 = s * s;
  const double total = s2.sum().item<double>();

  PcaResult r;
  r.components = components;
  r.dim = dim;
  r.mean.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + dim);
  basis = basis.contiguous();
  r.basis.assign(basis.data_ptr<double>(), basis.data_ptr<double>() + components * dim);
  r.projected.assign(projected.data_ptr<double>(), projected.data_ptr<double>() + n * components);
  for (int k = 0; k < components; ++k) {
    const double v = s2[k].item<double>();
    r.explained_variance.push_back(v / static_cast<double>(n - 1));
    r.explained_variance_ratio.push_back(total > 0 ? v / total : 0.0);
  }
  return r;
}

}  // namespace pneumo
