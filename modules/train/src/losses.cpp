#include "pneumo/train/losses.hpp"


namespace pneumo {

torch::Tensor bce_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  return torch::binary_cross_entropy_with_logits(logits, target);
}

torch::Tensor soft_dice_loss(const torch::Tensor& logits, const torch::Tensor& target, double smooth) {
  const auto n = logits.size(0);
  auto prob = torch::sigmoid(logits).reshape({n, -1});
  auto truth = target.reshape({n, -1});
  auto intersection = (prob * truth).sum(1);
  auto denominator = prob.sum(1) + truth.sum(1);
  auto dice = (2.0 * intersection + smooth) / (denominator + smooth);
  return 1.0 - dice.mean();
}

torch::Tensor focal_loss(const torch::Tensor& logits, const torch::Tensor& target, double gamma) {
  // BCE per pixel, scaled by (1 - p_t)^gamma so easy pixels (most of a chest X-ray) count less.
  auto bce = torch::binary_cross_entropy_with_logits(logits, target, {}, {}, torch::Reduction::None);
  auto p_t = torch::exp(-bce);
  return (torch::pow(1.0 - p_t, gamma) * bce).mean();
}

namespace {

// Gradient of the Lovasz extension w.r.t. sorted errors (Berman et al., Alg. 1).
torch::Tensor lovasz_grad(const torch::Tensor& gt_sorted) {
  auto gts = gt_sorted.sum();
  auto intersection = gts - gt_sorted.cumsum(0);
  auto union_ = gts + (1.0 - gt_sorted).cumsum(0);
  auto jaccard = 1.0 - intersection / union_;
  if (gt_sorted.size(0) > 1) {
    auto tail = jaccard.slice(0, 1) - jaccard.slice(0, 0, -1);
    jaccard = torch::cat({jaccard.slice(0, 0, 1), tail});
  }
  return jaccard;
}

}  // namespace

torch::Tensor lovasz_hinge_loss(const torch::Tensor& logits, const torch::Tensor& target) {
  const auto n = logits.size(0);
  auto flat_logits = logits.reshape({n, -1});
  auto flat_target = target.reshape({n, -1});
  std::vector<torch::Tensor> per_image;
  per_image.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    auto signs = 2.0 * flat_target[i] - 1.0;
    auto errors = 1.0 - flat_logits[i] * signs;
    auto [errors_sorted, perm] = torch::sort(errors, /*dim=*/0, /*descending=*/true);
    auto gt_sorted = flat_target[i].index_select(0, perm);
    auto grad = lovasz_grad(gt_sorted);
    per_image.push_back(torch::dot(torch::relu(errors_sorted), grad));
  }
  return torch::stack(per_image).mean();
}

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target, const LossSpec& spec) {
  torch::Tensor total = torch::zeros({}, logits.options());
  if (spec.bce > 0) total = total + spec.bce * bce_loss(logits, target);
  if (spec.dice > 0) total = total + spec.dice * soft_dice_loss(logits, target);
  if (spec.focal > 0) total = total + spec.focal * focal_loss(logits, target, spec.focal_gamma);
  if (spec.lovasz > 0) total = total + spec.lovasz * lovasz_hinge_loss(logits, target);
  return total;
}

}  // namespace pneumo
