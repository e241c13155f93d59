// The autoencoder and beta-VAE used for unsupervised pre-training (LibTorch).
#include "autoencoder.hpp"

#include <array>

namespace pneumo::pretrain_detail {
namespace {

constexpr std::array<int64_t, 5> kDecoderChannels{128, 64, 32, 16, 8};

// Appends nearest-neighbour x2 upsampling, 3x3 conv, BatchNorm, ReLU: [N,in,h,w] -> [N,out,2h,2w]
// (flat: a Sequential cannot hold another Sequential).
void add_up_block(torch::nn::Sequential& seq, int64_t in, int64_t out) {
  seq->push_back(
      torch::nn::Upsample(torch::nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
  seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  seq->push_back(torch::nn::BatchNorm2d(out));
  seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions().inplace(true)));
}

}  // namespace

AutoencoderImpl::AutoencoderImpl(std::shared_ptr<EncoderImpl> encoder, int64_t size, bool variational, int64_t latent)
    : encoder_(std::move(encoder)), variational_(variational), side_(size / 32) {
  register_module("encoder", encoder_);
  const int64_t deepest = encoder_->channels()[4];
  if (variational_) {
    fc_mu_ = register_module("fc_mu", torch::nn::Linear(deepest, latent));
    fc_logvar_ = register_module("fc_logvar", torch::nn::Linear(deepest, latent));
    fc_decode_ = register_module("fc_decode", torch::nn::Linear(latent, first_channels_ * side_ * side_));
  } else {
    bottleneck_ = register_module("bottleneck", torch::nn::Conv2d(torch::nn::Conv2dOptions(deepest, first_channels_, 1)));
  }
  decoder_ = torch::nn::Sequential();
  int64_t in = first_channels_;
  for (int64_t out : kDecoderChannels) {
    add_up_block(decoder_, in, out);
    in = out;
  }
  register_module("decoder", decoder_);
  head_ = register_module("head", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, 1, 1)));
}

torch::Tensor AutoencoderImpl::pooled(const torch::Tensor& x) {
  auto features = encoder_->forward_features(x);  // 5 maps; [4] is [N, C5, S/32, S/32]
  return features[4].mean({2, 3});                // [N, C5]
}

AutoencoderOutput AutoencoderImpl::forward(const torch::Tensor& x) {
  AutoencoderOutput out;
  torch::Tensor start;  // [N, 128, S/32, S/32]
  if (variational_) {
    auto p = pooled(x);                                // [N, C5]
    out.mu = fc_mu_->forward(p);                       // [N, latent]
    out.logvar = fc_logvar_->forward(p).clamp(-10, 10);
    auto z = out.mu;
    if (is_training()) z = out.mu + torch::randn_like(out.mu) * torch::exp(0.5 * out.logvar);
    start = fc_decode_->forward(z).view({x.size(0), first_channels_, side_, side_});
    out.code = out.mu;
  } else {
    auto features = encoder_->forward_features(x);
    out.code = features[4].mean({2, 3});               // [N, C5]
    start = torch::relu(bottleneck_->forward(features[4]));
  }
  out.logits = head_->forward(decoder_->forward(start));  // [N, 1, S, S]
  return out;
}

torch::Tensor AutoencoderImpl::encode(const torch::Tensor& x) {
  auto p = pooled(x);
  return variational_ ? fc_mu_->forward(p) : p;
}

}  // namespace pneumo::pretrain_detail
