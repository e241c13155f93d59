// Decoders (U-Net, UNet++), heads (segmentation, classifier, joint image head) and the factory.
#include <cmath>
#include <map>
#include <string>
#include <utility>

#include "pneumo/model/network.hpp"

namespace pneumo {
namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

using Size2 = std::vector<int64_t>;  // {H, W}

Size2 spatial_size(const torch::Tensor& t) { return {t.size(2), t.size(3)}; }

torch::Tensor upsample_to(const torch::Tensor& x, const Size2& size) {
  return F::interpolate(x, F::InterpolateFuncOptions().size(size).mode(torch::kNearest));
}

nn::Sequential conv_bn_relu(int64_t in, int64_t out) {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1).bias(false)), nn::BatchNorm2d(out),
                        nn::ReLU());
}

// Initialisation for everything outside the encoder, as segmentation_models_pytorch does:
// Kaiming-uniform convs (fan_in, ReLU), BN 1/0, Xavier linear layers, zero biases.
void init_decoder_like_smp(nn::Module& m) {
  for (auto& sub : m.modules(/*include_self=*/false)) {
    if (auto* conv = sub->as<nn::Conv2d>()) {
      nn::init::kaiming_uniform_(conv->weight, /*a=*/0, torch::kFanIn, torch::kReLU);
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    } else if (auto* bn = sub->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    } else if (auto* linear = sub->as<nn::Linear>()) {
      nn::init::xavier_uniform_(linear->weight);
      if (linear->bias.defined()) nn::init::zeros_(linear->bias);
    }
  }
}

// Two 3x3 conv-BN-ReLU at one resolution: names conv1.{0,1}, conv2.{0,1}.
class DecoderBlockImpl : public nn::Module {
 public:
  DecoderBlockImpl(int64_t in, int64_t out) {
    conv1_ = register_module("conv1", conv_bn_relu(in, out));
    conv2_ = register_module("conv2", conv_bn_relu(out, out));
  }
  torch::Tensor forward(const torch::Tensor& x) { return conv2_->forward(conv1_->forward(x)); }

 private:
  nn::Sequential conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(DecoderBlock);

// Common interface of the two decoders: encoder features (strides 2..32) -> [N, dec[4], H, W].
class DecoderImpl : public nn::Module {
 public:
  virtual torch::Tensor decode(const std::vector<torch::Tensor>& features, const Size2& output_size) = 0;
};

// U-Net: five stages, each upsamples x2 (nearest), concatenates the encoder skip of that stride
// (none at full resolution) and applies two conv-BN-ReLU. Names blocks.0 .. blocks.4.
class UNetDecoderImpl : public DecoderImpl {
 public:
  UNetDecoderImpl(const std::array<int64_t, 5>& enc, const std::vector<int64_t>& dec) {
    blocks_ = register_module("blocks", nn::ModuleList());
    for (int k = 0; k < 5; ++k) {
      const int64_t in = (k == 0 ? enc[4] : dec[k - 1]) + (k < 4 ? enc[3 - k] : 0);
      blocks_->push_back(DecoderBlock(in, dec[k]));
    }
  }
  torch::Tensor decode(const std::vector<torch::Tensor>& f, const Size2& output_size) override {
    torch::Tensor x = f[4];  // [N, enc4, H/32, W/32]
    for (int k = 0; k < 5; ++k) {
      // k = 0..3: to the stride of f[3-k] (H/16, H/8, H/4, H/2) and concat it; k = 4: to [H, W].
      if (k < 4) {
        x = torch::cat({upsample_to(x, spatial_size(f[3 - k])), f[3 - k]}, 1);  // [N, dec[k-1] + enc[3-k], ...]
      } else {
        x = upsample_to(x, output_size);  // [N, dec[3], H, W]
      }
      x = blocks_[k]->as<DecoderBlock>()->forward(x);  // [N, dec[k], ...]
    }
    return x;  // [N, dec[4], H, W]
  }

 private:
  nn::ModuleList blocks_{nullptr};
};

// UNet++ (Zhou et al. 2018): nodes X^{i,j}, depth i = 0..3 (stride 2^(i+1)), column j >= 1:
//   X^{i,j} = block([X^{i,0}, ..., X^{i,j-1}, up(X^{i+1,j-1})]),  X^{i,0} = encoder feature i,
// X^{4,0} = the deepest feature. Nodes at depth i have dec[3-i] channels, so the U-Net's path
// X^{3,1}, X^{2,2}, X^{1,3}, X^{0,4} has the U-Net's widths. A final block ("final") takes X^{0,4}
// to full resolution with dec[4] channels. No deep supervision (the head reads X^{0,4} only).
class UNetPlusPlusDecoderImpl : public DecoderImpl {
 public:
  UNetPlusPlusDecoderImpl(const std::array<int64_t, 5>& enc, const std::vector<int64_t>& dec) {
    auto channels = [&](int i, int j) { return j == 0 ? enc[i] : dec[3 - i]; };
    for (int j = 1; j <= 4; ++j) {
      for (int i = 0; i + j <= 4; ++i) {
        const int64_t in = enc[i] + (j - 1) * dec[3 - i] + channels(i + 1, j - 1);
        nodes_.emplace(std::pair{i, j}, register_module(node_name(i, j), DecoderBlock(in, dec[3 - i])));
      }
    }
    final_ = register_module("final", DecoderBlock(dec[3], dec[4]));
  }
  torch::Tensor decode(const std::vector<torch::Tensor>& f, const Size2& output_size) override {
    std::map<std::pair<int, int>, torch::Tensor> x;
    for (int i = 0; i <= 4; ++i) x[{i, 0}] = f[i];  // [N, enc[i], H/2^(i+1), W/2^(i+1)]
    for (int j = 1; j <= 4; ++j) {
      for (int i = 0; i + j <= 4; ++i) {
        std::vector<torch::Tensor> inputs;
        for (int k = 0; k < j; ++k) inputs.push_back(x[{i, k}]);
        inputs.push_back(upsample_to(x[{i + 1, j - 1}], spatial_size(f[i])));
        x[{i, j}] = nodes_.at({i, j})->forward(torch::cat(inputs, 1));  // [N, dec[3-i], H/2^(i+1), ...]
      }
    }
    return final_->forward(upsample_to(x[{0, 4}], output_size));  // [N, dec[4], H, W]
  }

 private:
  static std::string node_name(int i, int j) { return "x_" + std::to_string(i) + "_" + std::to_string(j); }
  std::map<std::pair<int, int>, DecoderBlock> nodes_;
  DecoderBlock final_{nullptr};
};

// unet / unetpp: encoder -> decoder -> 3x3 conv to one logit per pixel.
class SegmenterImpl : public NetworkImpl {
 public:
  SegmenterImpl(ModelConfig config, std::shared_ptr<EncoderImpl> enc, bool nested)
      : NetworkImpl(std::move(config), std::move(enc)) {
    const auto& ch = encoder_->channels();
    const auto& dec = config_.decoder_channels;
    if (nested) {
      decoder_ = register_module("decoder", std::make_shared<UNetPlusPlusDecoderImpl>(ch, dec));
    } else {
      decoder_ = register_module("decoder", std::make_shared<UNetDecoderImpl>(ch, dec));
    }
    head_ = register_module("segmentation_head", nn::Conv2d(nn::Conv2dOptions(dec[4], 1, 3).padding(1)));
    init_decoder_like_smp(*decoder_);
    nn::init::xavier_uniform_(head_->weight);
    nn::init::zeros_(head_->bias);
  }
  NetOutput forward(const torch::Tensor& x) override {
    auto [features, mask] = segment(x);
    // Derived image score: the most confident pixel. [N,1]
    return {mask, std::get<0>(mask.flatten(2).max(2))};
  }

 protected:
  // Returns the encoder features and the mask logits [N,1,H,W].
  std::pair<std::vector<torch::Tensor>, torch::Tensor> segment(const torch::Tensor& x) {
    std::vector<torch::Tensor> features = encoder_->forward_features(x);
    torch::Tensor y = decoder_->decode(features, spatial_size(x));  // [N, dec[4], H, W]
    return {std::move(features), head_->forward(y)};                 // [N, 1, H, W]
  }

 private:
  std::shared_ptr<DecoderImpl> decoder_;
  nn::Conv2d head_{nullptr};
};

// classifier: encoder -> global average pooling -> dropout -> linear ("classifier.1").
class ClassifierImpl : public NetworkImpl {
 public:
  ClassifierImpl(ModelConfig config, std::shared_ptr<EncoderImpl> enc)
      : NetworkImpl(std::move(config), std::move(enc)) {
    classifier_ = register_module(
        "classifier", nn::Sequential(nn::Dropout(config_.dropout),
                                     nn::Linear(encoder_->channels()[4], config_.num_classes)));
    init_decoder_like_smp(*classifier_);
  }
  NetOutput forward(const torch::Tensor& x) override {
    torch::Tensor deepest = encoder_->forward_features(x)[4];                  // [N, C, H/32, W/32]
    torch::Tensor pooled = torch::adaptive_avg_pool2d(deepest, {1, 1}).flatten(1);  // [N, C]
    return {torch::Tensor(), classifier_->forward(pooled)};                  // [N, num_classes]
  }

 private:
  nn::Sequential classifier_{nullptr};
};

// joint: segmenter + image head mixing pooled mask logits with a GAP head on the deepest features.
class JointImpl : public SegmenterImpl {
 public:
  JointImpl(ModelConfig config, std::shared_ptr<EncoderImpl> enc)
      : SegmenterImpl(config, std::move(enc), /*nested=*/config.joint.decoder == "unetpp") {
    image_head_ = register_module(
        "image_head", nn::Sequential(nn::Dropout(config_.dropout), nn::Linear(encoder_->channels()[4], 1)));
    init_decoder_like_smp(*image_head_);
    const auto& jt = config_.joint;
    if (jt.pooling == "lse") {
      // r = exp(log_r) stays positive while training.
      torch::Tensor log_r = torch::full({1}, std::log(jt.lse_r));
      log_r_ = jt.learn_r ? register_parameter("pool_log_r", log_r) : register_buffer("pool_log_r", log_r);
    }
    mix_ = register_parameter("mix", torch::zeros({1}));  // sigmoid(0) = 0.5: start at the average
  }
  NetOutput forward(const torch::Tensor& x) override {
    auto [features, mask] = segment(x);                   // mask [N,1,H,W]
    torch::Tensor flat = mask.flatten(2);                 // [N,1,H*W]
    torch::Tensor pooled;                                 // [N,1]
    const auto& pooling = config_.joint.pooling;
    if (pooling == "max") {
      pooled = std::get<0>(flat.max(2));
    } else if (pooling == "mean") {
      pooled = flat.mean(2);
    } else {
      // LSE: (1/r) * log(mean(exp(r * m))), computed stably via logsumexp.
      torch::Tensor r = log_r_.exp();
      pooled = (torch::logsumexp(flat * r, 2) - std::log(static_cast<double>(flat.size(2)))) / r;
    }
    torch::Tensor gap = torch::adaptive_avg_pool2d(features[4], {1, 1}).flatten(1);  // [N, C]
    torch::Tensor head = image_head_->forward(gap);                                    // [N,1]
    torch::Tensor m = torch::sigmoid(mix_);
    return {mask, m * pooled + (1 - m) * head};
  }

 private:
  nn::Sequential image_head_{nullptr};
  torch::Tensor log_r_;
  torch::Tensor mix_;
};

}  // namespace

NetworkImpl::NetworkImpl(ModelConfig config, std::shared_ptr<EncoderImpl> encoder)
    : config_(std::move(config)), encoder_(register_module("encoder", std::move(encoder))) {}

void NetworkImpl::set_encoder_trainable(bool trainable) {
  for (auto& p : encoder_->parameters()) p.set_requires_grad(trainable);
}

std::vector<torch::Tensor> NetworkImpl::encoder_parameters() const { return encoder_->parameters(); }

std::vector<torch::Tensor> NetworkImpl::decoder_parameters() const {
  std::vector<torch::Tensor> out;
  for (const auto& item : named_parameters()) {
    if (item.key().rfind("encoder.", 0) != 0) out.push_back(item.value());
  }
  return out;
}

int64_t NetworkImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

Result<std::shared_ptr<NetworkImpl>> make_network(const ModelConfig& config) {
  if (auto st = validate_model_config(config); !st) return st.error();
  auto encoder = make_encoder(config.encoder, config.in_channels);
  if (!encoder) return encoder.error();
  std::shared_ptr<NetworkImpl> net;
  if (config.arch == "unet" || config.arch == "unetpp") {
    net = std::make_shared<SegmenterImpl>(config, encoder.value(), /*nested=*/config.arch == "unetpp");
  } else if (config.arch == "classifier") {
    net = std::make_shared<ClassifierImpl>(config, encoder.value());
  } else {
    net = std::make_shared<JointImpl>(config, encoder.value());
  }
  return net;
}

torch::Tensor normalise_input(const ModelConfig& config, const torch::Tensor& batch01) {
  TORCH_CHECK(batch01.dim() == 4 && (batch01.size(1) == 1 || batch01.size(1) == config.in_channels),
              "normalise_input: expected [N,1,H,W] or [N,", config.in_channels, ",H,W], got ", batch01.sizes());
  TORCH_CHECK(batch01.is_floating_point(), "normalise_input: expected a floating-point tensor");
  torch::Tensor x = batch01.size(1) == config.in_channels ? batch01 : batch01.expand({-1, config.in_channels, -1, -1});
  torch::Tensor mean = torch::tensor(config.normalisation.mean).to(x.options()).view({1, -1, 1, 1});
  torch::Tensor std = torch::tensor(config.normalisation.std).to(x.options()).view({1, -1, 1, 1});
  return (x - mean) / std;
}

int fold_batchnorm_for_inference(torch::nn::Module& root) {
  torch::NoGradGuard no_grad;
  int folded = 0;
  for (const auto& module : root.modules(/*include_self=*/true)) {
    auto* sequential = module->as<torch::nn::Sequential>();
    if (sequential == nullptr) continue;
    for (auto it = sequential->begin(); it != sequential->end() && std::next(it) != sequential->end(); ++it) {
      auto* conv = it->ptr()->as<torch::nn::Conv2d>();
      auto* bn = std::next(it)->ptr()->as<torch::nn::BatchNorm2d>();
      if (conv == nullptr || bn == nullptr || !bn->options.track_running_stats() ||
          bn->running_mean.size(0) != conv->weight.size(0)) {
        continue;
      }
      const torch::Tensor scale =
          (bn->options.affine() ? bn->weight : torch::ones_like(bn->running_var)) /
          torch::sqrt(bn->running_var + bn->options.eps());  // [out]
      const torch::Tensor shift = bn->options.affine() ? bn->bias : torch::zeros_like(bn->running_mean);
      const torch::Tensor old_bias = conv->bias.defined() ? conv->bias : torch::zeros_like(bn->running_mean);
      conv->weight.mul_(scale.reshape({-1, 1, 1, 1}));
      const torch::Tensor new_bias = shift + (old_bias - bn->running_mean) * scale;
      if (conv->bias.defined()) {
        conv->bias.copy_(new_bias);
      } else {
        conv->bias = new_bias;  // Conv2d's forward reads the member; "bias" stays registered as undefined
      }
      // The Sequential runs its AnyModule list; the BatchNorm stays registered (names intact)
      // but no longer runs.
      *std::next(it) = torch::nn::AnyModule(torch::nn::Identity());
      ++folded;
    }
  }
  return folded;
}

}  // namespace pneumo
