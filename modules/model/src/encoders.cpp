// Encoders with torchvision 0.14's module names (state_dict keys map 1:1, see encoders.hpp).
#include "pneumo/model/encoders.hpp"

#include <string>
#include <utility>

namespace pneumo {
namespace {

namespace nn = torch::nn;

// nn::Sequential has a templated forward, so it cannot sit inside another Sequential (AnyModule
// needs a concrete signature). This subclass gives it one; torchvision nests Sequentials freely.
class SeqImpl : public torch::nn::SequentialImpl {
 public:
  using torch::nn::SequentialImpl::SequentialImpl;
  torch::Tensor forward(torch::Tensor x) { return torch::nn::SequentialImpl::forward(std::move(x)); }
};
TORCH_MODULE(Seq);

enum class Act { kNone, kReLU, kReLU6, kSiLU };

// torchvision's Conv2dNormActivation: Sequential(conv, bn[, act]) -> names .0, .1, (.2).
Seq conv_bn_act(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t groups, Act act) {
  Seq s;
  s->push_back(nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding((kernel - 1) / 2).groups(groups).bias(false)));
  s->push_back(nn::BatchNorm2d(out));
  switch (act) {
    case Act::kReLU: s->push_back(nn::ReLU()); break;
    case Act::kReLU6: s->push_back(nn::ReLU6()); break;
    case Act::kSiLU: s->push_back(nn::SiLU()); break;
    case Act::kNone: break;
  }
  return s;
}

// torchvision initialises every encoder's convs with Kaiming-normal (fan_out) and BN with 1/0.
void init_like_torchvision(nn::Module& m) {
  for (auto& sub : m.modules(/*include_self=*/false)) {
    if (auto* conv = sub->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, /*a=*/0, torch::kFanOut, torch::kReLU);
      if (conv->bias.defined()) nn::init::zeros_(conv->bias);
    } else if (auto* bn = sub->as<nn::BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
}

// ---------------------------------------------------------------- ResNet34 (BasicBlock x [3,4,6,3])
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(out));
    conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2_ = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      downsample_ = register_module(
          "downsample",
          Seq(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)), nn::BatchNorm2d(out)));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor identity = downsample_.is_empty() ? x : downsample_->forward(x);
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
    y = bn2_->forward(conv2_->forward(y));
    return torch::relu(y + identity);
  }

 private:
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  Seq downsample_{nullptr};
};
TORCH_MODULE(BasicBlock);

class ResNet34Impl : public EncoderImpl {
 public:
  explicit ResNet34Impl(int64_t in_channels) : EncoderImpl("resnet34", {64, 64, 128, 256, 512}) {
    conv1_ = register_module("conv1",
                             nn::Conv2d(nn::Conv2dOptions(in_channels, 64, 7).stride(2).padding(3).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm2d(64));
    const int64_t blocks[4] = {3, 4, 6, 3};
    const int64_t widths[4] = {64, 128, 256, 512};
    int64_t in = 64;
    for (int i = 0; i < 4; ++i) {
      Seq layer;
      for (int64_t b = 0; b < blocks[i]; ++b) {
        layer->push_back(BasicBlock(in, widths[i], (b == 0 && i > 0) ? 2 : 1));
        in = widths[i];
      }
      layers_[i] = register_module("layer" + std::to_string(i + 1), layer);
    }
    init_like_torchvision(*this);
  }
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x) override {
    std::vector<torch::Tensor> f;
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));  // [N, 64, H/2, W/2]
    f.push_back(y);
    y = torch::max_pool2d(y, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);  // [N, 64, H/4, W/4]
    for (auto& layer : layers_) {
      y = layer->forward(y);  // layer1 [N,64,H/4], layer2 [N,128,H/8], layer3 [N,256,H/16], layer4 [N,512,H/32]
      f.push_back(y);
    }
    return f;
  }

 private:
  nn::Conv2d conv1_{nullptr};
  nn::BatchNorm2d bn1_{nullptr};
  std::array<Seq, 4> layers_{Seq{nullptr}, Seq{nullptr}, Seq{nullptr},
                                        Seq{nullptr}};
};

// ---------------------------------------------------------------- MobileNetV2
class InvertedResidualImpl : public nn::Module {
 public:
  InvertedResidualImpl(int64_t in, int64_t out, int64_t stride, int64_t expand) {
    const int64_t hidden = in * expand;
    use_residual_ = stride == 1 && in == out;
    Seq conv;
    if (expand != 1) conv->push_back(conv_bn_act(in, hidden, 1, 1, 1, Act::kReLU6));  // conv.0: 1x1 expand
    conv->push_back(conv_bn_act(hidden, hidden, 3, stride, hidden, Act::kReLU6));      // depthwise 3x3
    conv->push_back(nn::Conv2d(nn::Conv2dOptions(hidden, out, 1).bias(false)));      // 1x1 projection
    conv->push_back(nn::BatchNorm2d(out));
    conv_ = register_module("conv", conv);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return use_residual_ ? x + conv_->forward(x) : conv_->forward(x);
  }

 private:
  Seq conv_{nullptr};
  bool use_residual_ = false;
};
TORCH_MODULE(InvertedResidual);

// Runs a Sequential and records the outputs of the modules whose index is in `taps` (ascending);
// stops after the last tap.
std::vector<torch::Tensor> run_with_taps(Seq& seq, torch::Tensor x, const std::vector<size_t>& taps) {
  std::vector<torch::Tensor> f;
  size_t next = 0;
  size_t index = 0;
  for (auto& m : *seq) {
    if (next == taps.size()) break;
    x = m.forward(x);
    if (index++ == taps[next]) {
      f.push_back(x);
      ++next;
    }
  }
  return f;
}

class MobileNetV2Impl : public EncoderImpl {
 public:
  explicit MobileNetV2Impl(int64_t in_channels) : EncoderImpl("mobilenet_v2", {16, 24, 32, 96, 1280}) {
    Seq features;
    features->push_back(conv_bn_act(in_channels, 32, 3, 2, 1, Act::kReLU6));  // features.0
    // (expansion t, channels c, repeats n, first stride s) as in the paper / torchvision.
    const int64_t settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t in = 32;
    for (const auto& s : settings) {
      for (int64_t i = 0; i < s[2]; ++i) {
        features->push_back(InvertedResidual(in, s[1], i == 0 ? s[3] : 1, s[0]));
        in = s[1];
      }
    }
    features->push_back(conv_bn_act(320, 1280, 1, 1, 1, Act::kReLU6));  // features.18
    features_ = register_module("features", features);
    init_like_torchvision(*this);
  }
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x) override {
    // Taps: features.1 [N,16,H/2], .3 [N,24,H/4], .6 [N,32,H/8], .13 [N,96,H/16], .18 [N,1280,H/32].
    return run_with_taps(features_, x, {1, 3, 6, 13, 18});
  }

 private:
  Seq features_{nullptr};
};

// ---------------------------------------------------------------- EfficientNet-B0
class SqueezeExcitationImpl : public nn::Module {
 public:
  SqueezeExcitationImpl(int64_t channels, int64_t squeezed) {
    fc1_ = register_module("fc1", nn::Conv2d(nn::Conv2dOptions(channels, squeezed, 1)));
    fc2_ = register_module("fc2", nn::Conv2d(nn::Conv2dOptions(squeezed, channels, 1)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor s = torch::adaptive_avg_pool2d(x, {1, 1});  // [N, C, 1, 1]
    s = torch::sigmoid(fc2_->forward(torch::silu(fc1_->forward(s))));
    return x * s;
  }

 private:
  nn::Conv2d fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(SqueezeExcitation);

class MBConvImpl : public nn::Module {
 public:
  MBConvImpl(int64_t expand, int64_t kernel, int64_t stride, int64_t in, int64_t out) {
    const int64_t expanded = in * expand;  // a multiple of 8 for every B0 stage, as torchvision requires
    use_residual_ = stride == 1 && in == out;
    Seq block;
    if (expanded != in) block->push_back(conv_bn_act(in, expanded, 1, 1, 1, Act::kSiLU));
    block->push_back(conv_bn_act(expanded, expanded, kernel, stride, expanded, Act::kSiLU));  // depthwise
    block->push_back(SqueezeExcitation(expanded, std::max<int64_t>(1, in / 4)));
    block->push_back(conv_bn_act(expanded, out, 1, 1, 1, Act::kNone));
    block_ = register_module("block", block);
  }
  torch::Tensor forward(const torch::Tensor& x) {
    // Stochastic depth omitted: torchvision applies it only in training mode.
    return use_residual_ ? x + block_->forward(x) : block_->forward(x);
  }

 private:
  Seq block_{nullptr};
  bool use_residual_ = false;
};
TORCH_MODULE(MBConv);

class EfficientNetB0Impl : public EncoderImpl {
 public:
  explicit EfficientNetB0Impl(int64_t in_channels) : EncoderImpl("efficientnet_b0", {16, 24, 40, 112, 1280}) {
    Seq features;
    features->push_back(conv_bn_act(in_channels, 32, 3, 2, 1, Act::kSiLU));  // features.0
    // (expand, kernel, stride, in, out, repeats): torchvision's B0 table.
    const int64_t stages[7][6] = {{1, 3, 1, 32, 16, 1},  {6, 3, 2, 16, 24, 2},  {6, 5, 2, 24, 40, 2},
                                  {6, 3, 2, 40, 80, 3},  {6, 5, 1, 80, 112, 3}, {6, 5, 2, 112, 192, 4},
                                  {6, 3, 1, 192, 320, 1}};
    for (const auto& s : stages) {
      Seq stage;
      for (int64_t i = 0; i < s[5]; ++i) stage->push_back(MBConv(s[0], s[1], i == 0 ? s[2] : 1, i == 0 ? s[3] : s[4], s[4]));
      features->push_back(stage);  // features.1 .. features.7
    }
    features->push_back(conv_bn_act(320, 1280, 1, 1, 1, Act::kSiLU));  // features.8
    features_ = register_module("features", features);
    init_like_torchvision(*this);
  }
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x) override {
    // Taps: features.1 [N,16,H/2], .2 [N,24,H/4], .3 [N,40,H/8], .5 [N,112,H/16], .8 [N,1280,H/32].
    return run_with_taps(features_, x, {1, 2, 3, 5, 8});
  }

 private:
  Seq features_{nullptr};
};

// ---------------------------------------------------------------- DenseNet121
class DenseLayerImpl : public nn::Module {
 public:
  DenseLayerImpl(int64_t in, int64_t growth, int64_t bn_size) {
    norm1_ = register_module("norm1", nn::BatchNorm2d(in));
    conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, bn_size * growth, 1).bias(false)));
    norm2_ = register_module("norm2", nn::BatchNorm2d(bn_size * growth));
    conv2_ = register_module("conv2",
                             nn::Conv2d(nn::Conv2dOptions(bn_size * growth, growth, 3).padding(1).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = conv1_->forward(torch::relu(norm1_->forward(x)));  // [N, 128, h, w] bottleneck
    return conv2_->forward(torch::relu(norm2_->forward(y)));            // [N, growth, h, w]
  }

 private:
  nn::BatchNorm2d norm1_{nullptr}, norm2_{nullptr};
  nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(DenseLayer);

class DenseBlockImpl : public nn::Module {
 public:
  DenseBlockImpl(int64_t layers, int64_t in, int64_t growth, int64_t bn_size) {
    for (int64_t i = 0; i < layers; ++i)
      layers_.push_back(register_module("denselayer" + std::to_string(i + 1), DenseLayer(in + i * growth, growth, bn_size)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<torch::Tensor> features{x};
    for (auto& layer : layers_) features.push_back(layer->forward(torch::cat(features, 1)));
    return torch::cat(features, 1);  // [N, in + layers * growth, h, w]
  }

 private:
  std::vector<DenseLayer> layers_;
};
TORCH_MODULE(DenseBlock);

class DenseNet121Impl : public EncoderImpl {
 public:
  explicit DenseNet121Impl(int64_t in_channels) : EncoderImpl("densenet121", {64, 256, 512, 1024, 1024}) {
    constexpr int64_t kGrowth = 32, kBnSize = 4;
    const int64_t block_layers[4] = {6, 12, 24, 16};
    Seq features;
    features->push_back("conv0", nn::Conv2d(nn::Conv2dOptions(in_channels, 64, 7).stride(2).padding(3).bias(false)));
    features->push_back("norm0", nn::BatchNorm2d(64));
    features->push_back("relu0", nn::ReLU());
    features->push_back("pool0", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
    int64_t ch = 64;
    for (int i = 0; i < 4; ++i) {
      features->push_back("denseblock" + std::to_string(i + 1), DenseBlock(block_layers[i], ch, kGrowth, kBnSize));
      ch += block_layers[i] * kGrowth;
      if (i < 3) {
        Seq transition;
        transition->push_back("norm", nn::BatchNorm2d(ch));
        transition->push_back("relu", nn::ReLU());
        transition->push_back("conv", nn::Conv2d(nn::Conv2dOptions(ch, ch / 2, 1).bias(false)));
        transition->push_back("pool", nn::AvgPool2d(nn::AvgPool2dOptions(2).stride(2)));
        features->push_back("transition" + std::to_string(i + 1), transition);
        ch /= 2;
      }
    }
    features->push_back("norm5", nn::BatchNorm2d(ch));
    features_ = register_module("features", features);
    init_like_torchvision(*this);
  }
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x) override {
    // Taps: relu0 [N,64,H/2], denseblock1 [N,256,H/4], denseblock2 [N,512,H/8],
    // denseblock3 [N,1024,H/16], relu(norm5) [N,1024,H/32] (torchvision applies that ReLU in forward).
    auto f = run_with_taps(features_, x, {2, 4, 6, 8, 11});
    f[4] = torch::relu(f[4]);
    return f;
  }

 private:
  Seq features_{nullptr};
};

// ---------------------------------------------------------------- VGG19 / VGG19-BN
class Vgg19Impl : public EncoderImpl {
 public:
  Vgg19Impl(int64_t in_channels, bool batch_norm)
      : EncoderImpl(batch_norm ? "vgg19_bn" : "vgg19", {128, 256, 512, 512, 512}) {
    constexpr int64_t kPool = 0;
    const int64_t cfg[] = {64, 64, kPool, 128, 128, kPool, 256, 256, 256, 256, kPool,
                           512, 512, 512, 512, kPool, 512, 512, 512, 512, kPool};
    Seq features;
    std::vector<size_t> pools;
    int64_t in = in_channels;
    for (int64_t v : cfg) {
      if (v == kPool) {
        pools.push_back(features->size());
        features->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)));
        continue;
      }
      features->push_back(nn::Conv2d(nn::Conv2dOptions(in, v, 3).padding(1)));
      if (batch_norm) features->push_back(nn::BatchNorm2d(v));
      features->push_back(nn::ReLU());
      in = v;
    }
    // Pre-pool outputs of blocks 2..5 (strides 2, 4, 8, 16), then the last pool (stride 32).
    taps_ = {pools[1] - 1, pools[2] - 1, pools[3] - 1, pools[4] - 1, pools[4]};
    features_ = register_module("features", features);
    init_like_torchvision(*this);
  }
  std::vector<torch::Tensor> forward_features(const torch::Tensor& x) override {
    // [N,128,H/2], [N,256,H/4], [N,512,H/8], [N,512,H/16], [N,512,H/32]
    return run_with_taps(features_, x, taps_);
  }

 private:
  Seq features_{nullptr};
  std::vector<size_t> taps_;
};

}  // namespace

Result<std::shared_ptr<EncoderImpl>> make_encoder(const std::string& name, int64_t in_channels) {
  if (in_channels != 1 && in_channels != 3)
    return fail(ErrorCode::kInvalidArgument,
                "encoder '" + name + "': in_channels must be 1 or 3, got " + std::to_string(in_channels));
  if (name == "resnet34") return std::shared_ptr<EncoderImpl>(std::make_shared<ResNet34Impl>(in_channels));
  if (name == "mobilenet_v2") return std::shared_ptr<EncoderImpl>(std::make_shared<MobileNetV2Impl>(in_channels));
  if (name == "efficientnet_b0")
    return std::shared_ptr<EncoderImpl>(std::make_shared<EfficientNetB0Impl>(in_channels));
  if (name == "densenet121") return std::shared_ptr<EncoderImpl>(std::make_shared<DenseNet121Impl>(in_channels));
  if (name == "vgg19") return std::shared_ptr<EncoderImpl>(std::make_shared<Vgg19Impl>(in_channels, false));
  if (name == "vgg19_bn") return std::shared_ptr<EncoderImpl>(std::make_shared<Vgg19Impl>(in_channels, true));
  return fail(ErrorCode::kInvalidArgument, "unknown encoder '" + name +
                                               "' (expected resnet34, efficientnet_b0, densenet121, vgg19, "
                                               "vgg19_bn or mobilenet_v2)");
}

}  // namespace pneumo
