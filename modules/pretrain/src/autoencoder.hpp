// Internal: the autoencoder and beta-VAE around an encoder of encoders.hpp (LibTorch types).
#pragma once

#include <memory>

#include <torch/torch.h>

#include "pneumo/model/encoders.hpp"

namespace pneumo::pretrain_detail {

struct AutoencoderOutput {
  torch::Tensor logits;  // [N,1,S,S] reconstruction logits (sigmoid = image in [0,1])
  torch::Tensor code;    // [N,D]: pooled deepest features (AE) or mu (VAE)
  torch::Tensor mu;      // [N,latent] (VAE only)
  torch::Tensor logvar;  // [N,latent] (VAE only)
};

// Module names: "encoder.*" (the encoder's own names below), "bottleneck" (AE) or "fc_mu",
// "fc_logvar", "fc_decode" (VAE), "decoder.<i>" (5 upsampling stages of 4 layers), "head".
class AutoencoderImpl : public torch::nn::Module {
 public:
  // size: input side (multiple of 32); latent: VAE code size (variational only).
  AutoencoderImpl(std::shared_ptr<EncoderImpl> encoder, int64_t size, bool variational, int64_t latent);

  // x: [N, in_channels, S, S] normalised. In train mode the VAE samples z = mu + eps * sigma;
  // in eval mode z = mu.
  AutoencoderOutput forward(const torch::Tensor& x);
  // [N,D] codes without decoding (eval mode expected).
  torch::Tensor encode(const torch::Tensor& x);

  EncoderImpl& encoder() { return *encoder_; }
  bool variational() const { return variational_; }

 private:
  torch::Tensor pooled(const torch::Tensor& x);  // [N, C5]

  std::shared_ptr<EncoderImpl> encoder_;
  bool variational_;
  int64_t side_;  // S / 32
  int64_t first_channels_ = 128;
  torch::nn::Conv2d bottleneck_{nullptr};
  torch::nn::Linear fc_mu_{nullptr}, fc_logvar_{nullptr}, fc_decode_{nullptr};
  torch::nn::Sequential decoder_{nullptr};
  torch::nn::Conv2d head_{nullptr};
};
TORCH_MODULE(Autoencoder);

}  // namespace pneumo::pretrain_detail
