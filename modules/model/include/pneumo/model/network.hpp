// Networks: U-Net, UNet++, classifier and joint (segmenter + image head) on any encoder.
//
//   pneumo::ModelConfig cfg;  cfg.arch = "unet"; cfg.encoder = "mobilenet_v2";
//   torch::manual_seed(seed);                                 // initial weights are random
//   std::shared_ptr<pneumo::NetworkImpl> net = pneumo::make_network(cfg).value();
//   net->to(device);
//   torch::Tensor x = pneumo::normalise_input(cfg, batch01);  // [N,1,H,W] in [0,1] -> [N,C,H,W]
//   pneumo::NetOutput out = net->forward(x);
//   // out.mask_logits [N,1,H,W] (undefined for "classifier"), out.image_logits [N,1]
//
// Outputs are logits (apply sigmoid for probabilities):
//   unet, unetpp  mask_logits [N,1,H,W]; image_logits [N,1] = max of mask_logits over the image,
//                 derived for convenience (no parameters of its own, nothing to train).
//   classifier    mask_logits undefined; image_logits [N,num_classes] from encoder -> global
//                 average pooling -> dropout -> linear (module "classifier.1", as torchvision).
//   joint         mask_logits [N,1,H,W] from the segmenter; image_logits [N,1] =
//                 m * pool(mask_logits) + (1 - m) * gap_head(deepest features), m = sigmoid(mix),
//                 a learned scalar starting at 0.5; pool = LSE with learned r (or max / mean).
// Module names: "encoder.*" (encoders.hpp), "decoder.*", "segmentation_head", "classifier.*",
// "image_head.*", "pool_log_r", "mix"; UNet++ nodes are "decoder.x_<depth>_<column>".
//
// Thread-safety: as any torch::nn::Module (one training forward at a time per instance).
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "pneumo/core/result.hpp"
#include "pneumo/model/config.hpp"
#include "pneumo/model/encoders.hpp"

namespace pneumo {

struct NetOutput {
  torch::Tensor mask_logits;   // [N,1,H,W] or undefined
  torch::Tensor image_logits;  // [N,1] ([N,num_classes] for a classifier) or undefined
};

class NetworkImpl : public torch::nn::Module {
 public:
  // x: [N, in_channels, H, W], normalised (see normalise_input), H and W multiples of 32.
  virtual NetOutput forward(const torch::Tensor& x) = 0;

  const ModelConfig& config() const { return config_; }
  EncoderImpl& encoder() { return *encoder_; }

  // Freezes (false) or unfreezes (true) every encoder parameter (requires_grad). BatchNorm
  // statistics still update in train mode; call encoder().eval() as well to freeze them.
  void set_encoder_trainable(bool trainable);
  // For separate learning rates: encoder parameters, and everything else (decoder and heads).
  std::vector<torch::Tensor> encoder_parameters() const;
  std::vector<torch::Tensor> decoder_parameters() const;
  int64_t parameter_count() const;  // number of scalar parameters

 protected:
  NetworkImpl(ModelConfig config, std::shared_ptr<EncoderImpl> encoder);

  ModelConfig config_;
  std::shared_ptr<EncoderImpl> encoder_;
};
using Network = NetworkImpl;

// Validates the config and builds the network on the CPU with random initial weights (seed
// with torch::manual_seed first for reproducible runs); move it with net->to(device).
Result<std::shared_ptr<NetworkImpl>> make_network(const ModelConfig& config);

// Pixels in [0,1] -> network input: replicates 1 channel to in_channels when needed, then applies
// config.normalisation per channel. requires: batch01 is [N,1,H,W] or [N,in_channels,H,W], float.
torch::Tensor normalise_input(const ModelConfig& config, const torch::Tensor& batch01);

// Inference only: folds every BatchNorm2d that directly follows a Conv2d inside an
// nn::Sequential (MobileNetV2 and EfficientNet blocks, VGG19_bn, DenseNet's stem, ResNet
// downsampling, every decoder block) into that convolution's weight and bias, and takes the
// BatchNorm out of the Sequential's forward path. Outputs match the eval-mode network within
// float rounding; the per-pixel BatchNorm passes disappear (a MobileNetV2 U-Net's 256 px
// forward at 2 threads: ~112 -> ~77 ms; no measurable change at 512 px). Afterwards the module must not be trained or saved: the folded
// BatchNorm modules keep their (now unused) parameters under their names, and the convolutions
// hold folded weights. Returns the number of folded pairs.
int fold_batchnorm_for_inference(torch::nn::Module& root);

}  // namespace pneumo
