// Networks: every arch x encoder builds, has the right output shapes and trains (finite
// gradients everywhere); encoder parameter counts equal torchvision's published ones; UNet++
// has its nested nodes; 1-channel input and weight import by name behave as specified.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "pneumo/model/network.hpp"
#include "pneumo/model/weights.hpp"

namespace pneumo {
namespace {

constexpr int64_t kSize = 64;  // small inputs keep the whole matrix within seconds
constexpr int64_t kBatch = 2;

ModelConfig make_config(const std::string& arch, const std::string& encoder, int64_t in_channels = 3) {
  ModelConfig c;
  c.arch = arch;
  c.encoder = encoder;
  c.in_channels = in_channels;
  c.input_size = kSize;
  c.normalisation = default_normalisation(in_channels);
  return c;
}

std::shared_ptr<NetworkImpl> build(const ModelConfig& c, uint64_t seed = 1) {
  torch::manual_seed(seed);
  auto net = make_network(c);
  EXPECT_TRUE(net.ok()) << (net.ok() ? "" : net.error().message);
  return net.ok() ? net.value() : nullptr;
}

// Sum of |grad| over tensors; -1 when any gradient is missing or not finite.
double grad_mass(const std::vector<torch::Tensor>& params, std::string* problem) {
  double mass = 0;
  for (const auto& p : params) {
    if (!p.grad().defined()) {
      *problem = "a parameter of shape " + std::to_string(p.numel()) + " elements has no gradient";
      return -1;
    }
    if (!torch::isfinite(p.grad()).all().item<bool>()) {
      *problem = "non-finite gradient";
      return -1;
    }
    mass += p.grad().abs().sum().item<double>();
  }
  return mass;
}

class ArchEncoderTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ArchEncoderTest, ForwardShapesAndFiniteGradients) {
  const auto& [arch, encoder] = GetParam();
  ModelConfig cfg = make_config(arch, encoder);
  auto net = build(cfg);
  ASSERT_TRUE(net);
  net->train();
  torch::manual_seed(7);
  torch::Tensor x = torch::randn({kBatch, 3, kSize, kSize});
  NetOutput out = net->forward(x);

  torch::Tensor loss = torch::zeros({});
  if (arch == "classifier") {
    EXPECT_FALSE(out.mask_logits.defined());
  } else {
    ASSERT_TRUE(out.mask_logits.defined());
    EXPECT_EQ(out.mask_logits.sizes(), (std::vector<int64_t>{kBatch, 1, kSize, kSize}));
    loss = loss + torch::binary_cross_entropy_with_logits(out.mask_logits, (x.narrow(1, 0, 1) > 0).to(torch::kFloat));
  }
  ASSERT_TRUE(out.image_logits.defined());
  EXPECT_EQ(out.image_logits.sizes(), (std::vector<int64_t>{kBatch, 1}));
  if (arch == "unet" || arch == "unetpp") {
    // Documented: the derived image logit is the maximum mask logit.
    EXPECT_TRUE(torch::allclose(out.image_logits, out.mask_logits.amax({2, 3})));
  } else {
    loss = loss + torch::binary_cross_entropy_with_logits(out.image_logits, torch::tensor({{1.0f}, {0.0f}}));
  }
  loss.backward();

  std::string problem;
  double enc = grad_mass(net->encoder_parameters(), &problem);
  EXPECT_GT(enc, 0) << arch << "/" << encoder << " encoder: " << problem;
  double dec = grad_mass(net->decoder_parameters(), &problem);
  EXPECT_GT(dec, 0) << arch << "/" << encoder << " decoder/head: " << problem;
  EXPECT_EQ(net->encoder_parameters().size() + net->decoder_parameters().size(), net->parameters().size());
}

TEST_P(ArchEncoderTest, BatchNormFoldingKeepsEvalOutputs) {
  const auto& [arch, encoder] = GetParam();
  auto net = build(make_config(arch, encoder));
  ASSERT_TRUE(net);
  // Trained-looking BatchNorm statistics and affine parameters, so folding has work to do.
  torch::manual_seed(11);
  {
    torch::NoGradGuard no_grad;
    for (const auto& module : net->modules()) {
      if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        bn->running_mean.uniform_(-0.5, 0.5);
        bn->running_var.uniform_(0.5, 2.0);
        bn->weight.uniform_(0.5, 1.5);
        bn->bias.uniform_(-0.3, 0.3);
      }
    }
  }
  net->eval();
  torch::Tensor x = torch::randn({kBatch, 3, kSize, kSize});
  NetOutput before, after;
  {
    torch::NoGradGuard no_grad;
    before = net->forward(x);
  }
  const int folded = fold_batchnorm_for_inference(*net);
  {
    torch::NoGradGuard no_grad;
    after = net->forward(x);
  }
  // Every encoder has at least one Conv2d -> BatchNorm2d pair inside a Sequential except plain
  // VGG19; every U-Net-style decoder block has one.
  if (encoder != "vgg19" || arch != "classifier") EXPECT_GT(folded, 0) << arch << "/" << encoder;
  for (auto [a, b] : {std::pair{before.mask_logits, after.mask_logits}, std::pair{before.image_logits, after.image_logits}}) {
    ASSERT_EQ(a.defined(), b.defined());
    if (!a.defined()) continue;
    const double scale = std::max(1.0, a.abs().max().item<double>());
    EXPECT_LT((a - b).abs().max().item<double>(), 1e-4 * scale) << arch << "/" << encoder << ", " << folded << " folded";
  }
}

INSTANTIATE_TEST_SUITE_P(AllArchsAllEncoders, ArchEncoderTest,
                         ::testing::Combine(::testing::Values("unet", "unetpp", "classifier", "joint"),
                                            ::testing::Values("resnet34", "efficientnet_b0", "densenet121",
                                                              "vgg19", "vgg19_bn", "mobilenet_v2")),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param);
                         });

// Independent oracle: torchvision 0.14's documented parameter counts (whole model) minus its
// classification head, which pneumo's encoders do not contain.
TEST(Encoders, ParameterCountsMatchTorchvision) {
  const std::map<std::string, int64_t> torchvision_total{
      {"resnet34", 21797672},   {"mobilenet_v2", 3504872}, {"efficientnet_b0", 5288548},
      {"densenet121", 7978856}, {"vgg19", 143667240},      {"vgg19_bn", 143678248}};
  const std::map<std::string, int64_t> head{
      {"resnet34", 512 * 1000 + 1000},
      {"mobilenet_v2", 1280 * 1000 + 1000},
      {"efficientnet_b0", 1280 * 1000 + 1000},
      {"densenet121", 1024 * 1000 + 1000},
      {"vgg19", (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)},
      {"vgg19_bn", (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)}};
  for (const auto& [name, total] : torchvision_total) {
    auto enc = make_encoder(name, 3);
    ASSERT_TRUE(enc.ok()) << name;
    int64_t n = 0;
    for (const auto& p : enc.value()->parameters()) n += p.numel();
    EXPECT_EQ(n, total - head.at(name)) << name;
  }
}

// Sample names and shapes as in torchvision 0.14's state_dict (spot checks across each model).
TEST(Encoders, TorchvisionNamesAndShapes) {
  const std::map<std::string, std::map<std::string, std::vector<int64_t>>> expected{
      {"resnet34",
       {{"conv1.weight", {64, 3, 7, 7}},
        {"layer2.0.downsample.0.weight", {128, 64, 1, 1}},
        {"layer4.2.bn2.running_var", {512}},
        {"bn1.num_batches_tracked", {}}}},
      {"efficientnet_b0",
       {{"features.1.0.block.0.0.weight", {32, 1, 3, 3}},
        {"features.1.0.block.1.fc1.weight", {8, 32, 1, 1}},
        {"features.2.0.block.1.0.weight", {96, 1, 3, 3}},
        {"features.3.0.block.1.0.weight", {144, 1, 5, 5}},
        {"features.6.3.block.3.1.bias", {192}},
        {"features.8.0.weight", {1280, 320, 1, 1}}}},
      {"densenet121",
       {{"features.conv0.weight", {64, 3, 7, 7}},
        {"features.denseblock1.denselayer1.norm1.weight", {64}},
        {"features.denseblock3.denselayer24.conv2.weight", {32, 128, 3, 3}},
        {"features.transition3.conv.weight", {512, 1024, 1, 1}},
        {"features.norm5.running_mean", {1024}}}},
      {"vgg19", {{"features.0.weight", {64, 3, 3, 3}}, {"features.34.weight", {512, 512, 3, 3}}, {"features.34.bias", {512}}}},
      {"vgg19_bn", {{"features.1.running_mean", {64}}, {"features.49.weight", {512, 512, 3, 3}}, {"features.50.weight", {512}}}},
      {"mobilenet_v2",
       {{"features.0.0.weight", {32, 3, 3, 3}},
        {"features.1.conv.1.weight", {16, 32, 1, 1}},
        {"features.2.conv.3.running_var", {24}},
        {"features.14.conv.1.0.weight", {576, 1, 3, 3}},
        {"features.18.0.weight", {1280, 320, 1, 1}}}},
  };
  for (const auto& [encoder, names] : expected) {
    auto enc = make_encoder(encoder, 3).value();
    std::map<std::string, torch::Tensor> tensors;
    for (const auto& item : enc->named_parameters()) tensors.emplace(item.key(), item.value());
    for (const auto& item : enc->named_buffers()) tensors.emplace(item.key(), item.value());
    for (const auto& [name, shape] : names) {
      auto it = tensors.find(name);
      ASSERT_NE(it, tensors.end()) << encoder << ": no tensor " << name;
      EXPECT_EQ(it->second.sizes(), shape) << encoder << ": " << name;
    }
  }
}

TEST(Encoders, FeatureStridesAndChannels) {
  for (const auto& name : model_encoder_names()) {
    auto enc = make_encoder(name, 1).value();
    enc->eval();
    torch::NoGradGuard no_grad;
    auto f = enc->forward_features(torch::randn({1, 1, 96, 64}));  // non-square on purpose
    ASSERT_EQ(f.size(), 5u) << name;
    for (size_t k = 0; k < 5; ++k) {
      const int64_t stride = int64_t{2} << k;
      EXPECT_EQ(f[k].sizes(), (std::vector<int64_t>{1, enc->channels()[k], 96 / stride, 64 / stride}))
          << name << " tap " << k;
    }
  }
  EXPECT_FALSE(make_encoder("resnet50", 3).ok());
  EXPECT_FALSE(make_encoder("resnet34", 2).ok());
}

TEST(Networks, UNetPlusPlusHasNestedNodes) {
  auto unet = build(make_config("unet", "mobilenet_v2"));
  auto unetpp = build(make_config("unetpp", "mobilenet_v2"));
  std::set<std::string> names;
  for (const auto& item : unetpp->named_modules()) names.insert(item.key());
  for (int j = 1; j <= 4; ++j)
    for (int i = 0; i + j <= 4; ++i)
      EXPECT_TRUE(names.count("decoder.x_" + std::to_string(i) + "_" + std::to_string(j))) << i << "," << j;
  EXPECT_FALSE(names.count("decoder.x_4_1"));
  EXPECT_GT(unetpp->parameter_count(), unet->parameter_count());
  EXPECT_EQ(unetpp->encoder_parameters().size(), unet->encoder_parameters().size());
}

TEST(Networks, DecoderChannelsAreConfigurable) {
  ModelConfig small = make_config("unet", "resnet34");
  ModelConfig wide = small;
  wide.decoder_channels = {256, 128, 64, 32, 16};
  auto a = build(small), b = build(wide);
  EXPECT_GT(b->parameter_count(), a->parameter_count());
  EXPECT_EQ(b->forward(torch::randn({1, 3, kSize, kSize})).mask_logits.size(1), 1);
}

TEST(Networks, InvalidConfigIsAnError) {
  ModelConfig c = make_config("unet", "resnet34");
  c.decoder_channels = {64, 32};
  auto net = make_network(c);
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.error().message.find("decoder_channels"), std::string::npos) << net.error().message;
  c = make_config("unet", "resnet35");
  ASSERT_FALSE(make_network(c).ok());
  EXPECT_NE(make_network(c).error().message.find("resnet35"), std::string::npos);
}

TEST(Networks, JointPoolingVariants) {
  for (const std::string pooling : {"lse", "max", "mean"}) {
    ModelConfig c = make_config("joint", "mobilenet_v2");
    c.joint.pooling = pooling;
    auto net = build(c);
    net->eval();
    torch::NoGradGuard no_grad;
    NetOutput out = net->forward(torch::randn({kBatch, 3, kSize, kSize}));
    EXPECT_EQ(out.image_logits.sizes(), (std::vector<int64_t>{kBatch, 1})) << pooling;
    bool has_r = false;
    for (const auto& item : net->named_parameters()) has_r |= item.key() == "pool_log_r";
    EXPECT_EQ(has_r, pooling == "lse") << pooling;
  }
  // LSE pooling lies between mean and max, and r is initialised from the config.
  ModelConfig c = make_config("joint", "mobilenet_v2");
  c.joint.lse_r = 3.0;
  auto net = build(c);
  for (const auto& item : net->named_parameters())
    if (item.key() == "pool_log_r") EXPECT_NEAR(item.value().item<double>(), std::log(3.0), 1e-6);
}

TEST(Networks, EncoderFreezeAndParameterGroups) {
  auto net = build(make_config("unet", "resnet34"));
  net->set_encoder_trainable(false);
  for (const auto& p : net->encoder_parameters()) EXPECT_FALSE(p.requires_grad());
  for (const auto& p : net->decoder_parameters()) EXPECT_TRUE(p.requires_grad());
  net->forward(torch::randn({kBatch, 3, kSize, kSize})).mask_logits.sum().backward();
  for (const auto& p : net->encoder_parameters()) EXPECT_FALSE(p.grad().defined());
  net->set_encoder_trainable(true);
  for (const auto& p : net->encoder_parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(Networks, NormaliseInputReplicatesGreyAndAppliesMeanStd) {
  ModelConfig c = make_config("unet", "resnet34", 3);
  torch::Tensor grey = torch::full({1, 1, 2, 2}, 0.5f);
  torch::Tensor x = normalise_input(c, grey);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 3, 2, 2}));
  EXPECT_NEAR(x[0][0][0][0].item<double>(), (0.5 - 0.485) / 0.229, 1e-6);
  EXPECT_NEAR(x[0][2][1][1].item<double>(), (0.5 - 0.406) / 0.225, 1e-6);
  ModelConfig one = make_config("unet", "resnet34", 1);
  torch::Tensor y = normalise_input(one, grey);
  ASSERT_EQ(y.size(1), 1);
  EXPECT_NEAR(y[0][0][1][0].item<double>(), (0.5 - one.normalisation.mean[0]) / one.normalisation.std[0], 1e-6);
}

// The encoder part of a network's state, named as torchvision would (no "encoder." prefix).
StateDict torchvision_style_dict(NetworkImpl& net) {
  StateDict sd;
  for (const auto& item : net.encoder().named_parameters()) sd.emplace_back(item.key(), item.value().detach().clone());
  for (const auto& item : net.encoder().named_buffers()) sd.emplace_back(item.key(), item.value().detach().clone());
  return sd;
}

TEST(WeightImport, OneChannelNetworkMatchesThreeChannelOnGrey) {
  for (const std::string encoder : {"resnet34", "mobilenet_v2", "vgg19_bn"}) {
    auto rgb = build(make_config("unet", encoder, 3), /*seed=*/3);
    auto grey = build(make_config("unet", encoder, 1), /*seed=*/4);
    StateDict sd = torchvision_style_dict(*rgb);
    sd.emplace_back("fc.weight", torch::zeros({1000, 512}));  // a torchvision head: skipped
    auto report = import_encoder_weights(*grey, sd, "rgb encoder");
    ASSERT_TRUE(report.ok()) << report.error().message;
    EXPECT_EQ(report->summed_to_grey.size(), 1u) << encoder;
    EXPECT_EQ(report->unexpected, std::vector<std::string>{"fc.weight"});
    EXPECT_TRUE(report->missing.empty());
    // Decoders differ (different seeds): copy them too, then compare the whole network.
    WeightImportOptions rest;
    rest.rules = {{"decoder.", "decoder."}, {"segmentation_head.", "segmentation_head."}};
    StateDict dec;
    for (const auto& item : rgb->named_parameters())
      if (item.key().rfind("encoder.", 0) != 0) dec.emplace_back(item.key(), item.value().detach());
    for (const auto& item : rgb->named_buffers())
      if (item.key().rfind("encoder.", 0) != 0) dec.emplace_back(item.key(), item.value().detach());
    ASSERT_TRUE(import_weights(*grey, dec, rest).ok());
    rgb->eval();
    grey->eval();
    torch::NoGradGuard no_grad;
    torch::Tensor g = torch::rand({kBatch, 1, kSize, kSize});
    torch::Tensor a = rgb->forward(g.expand({-1, 3, -1, -1}).contiguous()).mask_logits;
    torch::Tensor b = grey->forward(g).mask_logits;
    EXPECT_TRUE(torch::allclose(a, b, /*rtol=*/1e-4, /*atol=*/1e-4))
        << encoder << ": max diff " << (a - b).abs().max().item<double>();
  }
}

TEST(WeightImport, ShapeMismatchAndForeignFilesAreErrors) {
  auto net = build(make_config("unet", "mobilenet_v2"));
  StateDict sd = torchvision_style_dict(*net);
  for (auto& [name, t] : sd)
    if (name == "features.18.0.weight") t = torch::zeros({1280, 160, 1, 1});
  auto r = import_encoder_weights(*net, sd, "bad.pt");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kBadInput);
  EXPECT_NE(r.error().message.find("bad.pt"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("features.18.0.weight"), std::string::npos) << r.error().message;

  // Missing tensors are reported by module name.
  StateDict partial = torchvision_style_dict(*net);
  partial.pop_back();
  auto missing = import_encoder_weights(*net, partial, "partial.pt");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("not in the file"), std::string::npos) << missing.error().message;

  // A ResNet file on a MobileNetV2 network: nothing matches.
  auto resnet = build(make_config("unet", "resnet34"));
  auto foreign = import_encoder_weights(*net, torchvision_style_dict(*resnet), "resnet34.pt");
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("resnet34.pt"), std::string::npos);
}

}  // namespace
}  // namespace pneumo
