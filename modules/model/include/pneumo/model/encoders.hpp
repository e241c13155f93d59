// Image encoders (backbones) written from scratch with torchvision's module names, so a
// torchvision state_dict maps onto them one to one (see docs/weights.md).
//
//   auto enc = pneumo::make_encoder("mobilenet_v2", /*in_channels=*/3).value();
//   std::vector<torch::Tensor> f = enc->forward_features(x);   // x: [N, 3, H, W], H, W % 32 == 0
//   // f[k]: [N, enc->channels()[k], H / 2^(k+1), W / 2^(k+1)], k = 0..4 (strides 2 .. 32)
//
// Parameter names (prefix "encoder." once inside a network):
//   resnet34        conv1, bn1, layer1..layer4 (BasicBlock: conv1, bn1, conv2, bn2, downsample.0/.1)
//   efficientnet_b0 features.0 .. features.8 (MBConv: block.N.{0,1}, block.N.fc1/fc2 for SE)
//   densenet121     features.conv0, norm0, denseblock1..4.denselayerK.{norm1,conv1,norm2,conv2},
//                   transition1..3.{norm,conv}, norm5
//   vgg19, vgg19_bn features.I (torchvision's Sequential indices, with or without BatchNorm)
//   mobilenet_v2    features.0 .. features.18 (torchvision's padding: symmetric, padding = k / 2)
// Heads (torchvision's fc / classifier) are not part of an encoder; networks add their own.
// Taps (channels at strides 2, 4, 8, 16, 32):
//   resnet34 64,64,128,256,512; efficientnet_b0 16,24,40,112,1280; densenet121 64,256,512,1024,1024;
//   vgg19(_bn) 128,256,512,512,512 (pre-pool outputs of blocks 2-5, then the last pool);
//   mobilenet_v2 16,24,32,96,1280.
// Differences from torchvision, on purpose: EfficientNet's stochastic depth is left out (identity,
// as torchvision does in eval mode). Everything else matches torchvision 0.14 in eval mode.
//
// Thread-safety: like any torch::nn::Module, one forward at a time per instance in train mode;
// concurrent forwards under NoGradGuard in eval mode are fine.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "pneumo/core/result.hpp"

namespace pneumo {

class EncoderImpl : public torch::nn::Module {
 public:
  // x: [N, in_channels, H, W] (normalised), H and W multiples of 32.
  // Returns 5 feature maps at strides 2, 4, 8, 16, 32 with channels() channels.
  virtual std::vector<torch::Tensor> forward_features(const torch::Tensor& x) = 0;

  const std::array<int64_t, 5>& channels() const { return channels_; }
  const std::string& encoder_name() const { return encoder_name_; }

 protected:
  EncoderImpl(std::string name, std::array<int64_t, 5> channels)
      : encoder_name_(std::move(name)), channels_(channels) {}

 private:
  std::string encoder_name_;
  std::array<int64_t, 5> channels_;
};

// name: one of model_encoder_names() (config.hpp); in_channels 1 or 3. Weights are randomly
// initialised (torch's defaults; seed with torch::manual_seed for reproducibility).
Result<std::shared_ptr<EncoderImpl>> make_encoder(const std::string& name, int64_t in_channels);

}  // namespace pneumo
