// Segmentation and classification losses, and weighted combinations of them.
//
//   auto spec = pneumo::parse_loss_spec("bce:3,dice:1,focal:4").value();
//   torch::Tensor loss = pneumo::segmentation_loss(mask_logits, target_masks, spec);
//
// All losses take raw logits [N,1,H,W] (or [N,1] for image heads) and float 0/1 targets of
// the same shape, and return a scalar averaged over the batch. Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include <torch/torch.h>

#include "pneumo/core/result.hpp"
#include "pneumo/train/train_config.hpp"

namespace pneumo {

// Binary cross-entropy on logits (numerically stable).
torch::Tensor bce_loss(const torch::Tensor& logits, const torch::Tensor& target);
// 1 - soft Dice, computed per image then averaged; an image with empty truth and an empty
// prediction scores a loss near 0 thanks to the smoothing term.
torch::Tensor soft_dice_loss(const torch::Tensor& logits, const torch::Tensor& target, double smooth = 1.0);
// Focal loss (Lin et al.), mean over pixels.
torch::Tensor focal_loss(const torch::Tensor& logits, const torch::Tensor& target, double gamma = 2.0);
// Lovasz hinge (Berman et al.), per image, averaged; the convex surrogate of the Jaccard loss.
torch::Tensor lovasz_hinge_loss(const torch::Tensor& logits, const torch::Tensor& target);

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& target, const LossSpec& spec);

}  // namespace pneumo
