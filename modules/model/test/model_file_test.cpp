// Config JSON, self-contained model files, and the real MobileNetV2 ImageNet weights
// (/work/shared/data/weights; skipped loudly when absent).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "pneumo/core/files.hpp"
#include "pneumo/model/model_file.hpp"
#include "pneumo/model/weights.hpp"

namespace pneumo {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path dir = fs::path(PNEUMO_BINARY_DIR) / "test-tmp" / "model";
  fs::create_directories(dir);
  return dir;
}

fs::path weights_dir() { return fs::path(PNEUMO_SHARED_DATA) / "weights"; }

// ------------------------------------------------------------------ config JSON

TEST(ModelConfigJson, RoundTripKeepsEveryField) {
  ModelConfig c;
  c.arch = "joint";
  c.encoder = "efficientnet_b0";
  c.in_channels = 1;
  c.input_size = 512;
  c.normalisation = {{0.5}, {0.25}};
  c.decoder_channels = {64, 48, 32, 24, 16};
  c.dropout = 0.3;
  c.joint = {/*positive_area_threshold=*/120, "max", /*lse_r=*/2.5, /*learn_r=*/false, "unetpp"};
  c.thresholds = {0.4, 300, true, 0.8, 0.35, 500, 0.6};
  auto back = model_config_from_json(to_json(c));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), c);
  // And through text, as stored in files.
  auto text = model_config_from_json(nlohmann::json::parse(to_json(c).dump()));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text.value(), c);
}

TEST(ModelConfigJson, DefaultsAndErrorsNameTheField) {
  auto empty = model_config_from_json(nlohmann::json::object());
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty.value(), ModelConfig{});
  // 1 channel: normalisation defaults to one value.
  auto grey = model_config_from_json(nlohmann::json{{"in_channels", 1}});
  ASSERT_TRUE(grey.ok());
  EXPECT_EQ(grey->normalisation.mean.size(), 1u);

  auto bad_pool = model_config_from_json(nlohmann::json{{"joint", {{"pooling", "sum"}}}}, "m.json");
  ASSERT_FALSE(bad_pool.ok());
  EXPECT_EQ(bad_pool.error().code, ErrorCode::kBadInput);
  EXPECT_EQ(bad_pool.error().message, "m.json: field 'joint.pooling': expected \"lse\", \"max\" or \"mean\", got \"sum\"");

  auto typo = model_config_from_json(nlohmann::json{{"encodr", "resnet34"}}, "m.json");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("unknown field 'encodr'"), std::string::npos) << typo.error().message;

  auto wrong_type = model_config_from_json(nlohmann::json{{"input_size", "256"}}, "m.json");
  ASSERT_FALSE(wrong_type.ok());
  EXPECT_EQ(wrong_type.error().message, "m.json: field 'input_size': expected an integer, got \"256\"");

  auto not_multiple = model_config_from_json(nlohmann::json{{"input_size", 100}}, "m.json");
  ASSERT_FALSE(not_multiple.ok());
  EXPECT_NE(not_multiple.error().message.find("multiple of 32"), std::string::npos);

  auto mean_size = model_config_from_json(
      nlohmann::json{{"in_channels", 3}, {"normalisation", {{"mean", {0.1, 0.2}}}}}, "m.json");
  ASSERT_FALSE(mean_size.ok());
  EXPECT_NE(mean_size.error().message.find("normalisation.mean"), std::string::npos);
}

// ------------------------------------------------------------------ model files

ModelConfig small_config(const std::string& arch, const std::string& encoder) {
  ModelConfig c;
  c.arch = arch;
  c.encoder = encoder;
  c.input_size = 64;
  return c;
}

// Trains a few steps so BN running stats and weights differ from a fresh build.
void perturb(NetworkImpl& net) {
  net.train();
  torch::optim::SGD opt(net.parameters(), torch::optim::SGDOptions(0.01));
  for (int step = 0; step < 2; ++step) {
    opt.zero_grad();
    NetOutput out = net.forward(torch::randn({2, 3, 64, 64}));
    torch::Tensor loss = out.image_logits.pow(2).mean();
    if (out.mask_logits.defined()) loss = loss + out.mask_logits.pow(2).mean();
    loss.backward();
    opt.step();
  }
}

TEST(ModelFile, SaveLoadRoundTripGivesIdenticalOutputs) {
  for (const auto& [arch, encoder] : std::vector<std::pair<std::string, std::string>>{
           {"joint", "mobilenet_v2"}, {"unetpp", "resnet34"}, {"classifier", "efficientnet_b0"}}) {
    torch::manual_seed(11);
    ModelConfig cfg = small_config(arch, encoder);
    auto net = make_network(cfg).value();
    perturb(*net);
    net->eval();
    ModelConfig saved_cfg = cfg;
    saved_cfg.thresholds.pixel_threshold = 0.42;  // filled in "later", after training
    saved_cfg.thresholds.triplet = true;
    const nlohmann::json extra = {{"val_dice", 0.8125}, {"epochs", 3}, {"note", "round trip"}};
    const fs::path path = temp_dir() / (arch + "_" + encoder + ".pt");
    auto st = save_model_file(path, saved_cfg, *net, extra);
    ASSERT_TRUE(st.ok()) << st.error().message;

    auto loaded = load_model_file(path);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    EXPECT_EQ(loaded->config, saved_cfg);
    EXPECT_EQ(loaded->extra, extra);
    EXPECT_FALSE(loaded->network->is_training());

    torch::NoGradGuard no_grad;
    torch::Tensor x = torch::randn({2, 3, 64, 64});
    NetOutput a = net->forward(x);
    NetOutput b = loaded->network->forward(x);
    EXPECT_TRUE(torch::equal(a.image_logits, b.image_logits)) << arch;
    if (a.mask_logits.defined()) EXPECT_TRUE(torch::equal(a.mask_logits, b.mask_logits)) << arch;
    // Buffers too (BN running statistics, num_batches_tracked).
    auto buffers = loaded->network->named_buffers();
    for (const auto& item : net->named_buffers())
      EXPECT_TRUE(torch::equal(item.value(), buffers[item.key()])) << item.key();
    fs::remove(path);
  }
}

TEST(ModelFile, MismatchedFilesGiveClearErrors) {
  torch::manual_seed(5);
  ModelConfig cfg = small_config("unet", "mobilenet_v2");
  auto net = make_network(cfg).value();
  const fs::path dir = temp_dir();

  // A config for another architecture than the network.
  auto wrong = save_model_file(dir / "wrong.pt", small_config("unet", "resnet34"), *net);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir / "wrong.pt"));

  // A file whose tensors do not fit its config: resnet34 config, mobilenet_v2 tensors.
  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& item : net->named_parameters()) tensors.insert(item.key(), item.value().detach());
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert(std::string("format"), std::string(kModelFileFormat));
  top.insert(std::string("config"), to_json(small_config("unet", "resnet34")).dump());
  top.insert(std::string("extra"), std::string("{}"));
  top.insert(std::string("tensors"), tensors);
  auto bytes = torch::pickle_save(top);
  ASSERT_TRUE(write_file_atomic(dir / "mismatch.pt", std::string_view(bytes.data(), bytes.size())).ok());
  auto mismatch = load_model_file(dir / "mismatch.pt");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code, ErrorCode::kBadInput);
  EXPECT_NE(mismatch.error().message.find("mismatch.pt"), std::string::npos) << mismatch.error().message;
  EXPECT_NE(mismatch.error().message.find("encoder.conv1.weight"), std::string::npos) << mismatch.error().message;

  // One tensor with a wrong shape is named.
  ASSERT_TRUE(save_model_file(dir / "good.pt", cfg, *net).ok());
  auto good = torch::pickle_load([&] {
    auto s = read_file(dir / "good.pt").value();
    return std::vector<char>(s.begin(), s.end());
  }());
  auto dict = good.toGenericDict();
  auto t = dict.at(std::string("tensors")).toGenericDict();
  t.insert_or_assign(std::string("segmentation_head.weight"), torch::zeros({1, 4, 3, 3}));
  bytes = torch::pickle_save(good);
  ASSERT_TRUE(write_file_atomic(dir / "shape.pt", std::string_view(bytes.data(), bytes.size())).ok());
  auto shape = load_model_file(dir / "shape.pt");
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.error().message.find("segmentation_head.weight"), std::string::npos) << shape.error().message;

  // A plain state dict is not a model file; garbage is not a torch file; absent is kNotFound.
  c10::impl::GenericDict plain(c10::StringType::get(), c10::TensorType::get());
  plain.insert(std::string("features.0.0.weight"), torch::zeros({32, 3, 3, 3}));
  bytes = torch::pickle_save(plain);
  ASSERT_TRUE(write_file_atomic(dir / "plain.pt", std::string_view(bytes.data(), bytes.size())).ok());
  auto not_model = load_model_file(dir / "plain.pt");
  ASSERT_FALSE(not_model.ok());
  EXPECT_NE(not_model.error().message.find("not a pneumo model file"), std::string::npos) << not_model.error().message;

  ASSERT_TRUE(write_file_atomic(dir / "garbage.pt", "this is not a zip file").ok());
  auto garbage = load_model_file(dir / "garbage.pt");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code, ErrorCode::kBadInput);
  EXPECT_NE(garbage.error().message.find("garbage.pt"), std::string::npos);

  auto absent = load_model_file(dir / "no-such-model.pt");
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code, ErrorCode::kNotFound);
  for (const char* name : {"mismatch.pt", "good.pt", "shape.pt", "plain.pt", "garbage.pt"}) fs::remove(dir / name);
}

// ------------------------------------------------------------------ real MobileNetV2 weights

TEST(MobileNetV2Imagenet, StateDictFileMatchesReadme) {
  const fs::path file = weights_dir() / "mobilenet_v2_imagenet.pt";
  if (!fs::exists(file)) GTEST_SKIP() << "real weights not found at " << file << " (shared data absent)";
  auto sd = load_state_dict_file(file);
  ASSERT_TRUE(sd.ok()) << sd.error().message;
  EXPECT_EQ(sd->size(), 314u);
  std::map<std::string, torch::Tensor> byname(sd->begin(), sd->end());
  // Values from weights/README.md (computed there by Python and a separate C++ program).
  EXPECT_NEAR(byname.at("features.0.0.weight").sum().item<double>(), -16.5088978, 1e-4);
  EXPECT_NEAR(byname.at("classifier.1.weight").sum().item<double>(), 1196.4203, 1e-2);
  EXPECT_EQ(byname.at("classifier.1.weight").sizes(), (std::vector<int64_t>{1000, 1280}));
}

TEST(MobileNetV2Imagenet, ImportedClassifierReproducesReferenceLogits) {
  const fs::path file = weights_dir() / "mobilenet_v2_imagenet.pt";
  const fs::path ref_file = weights_dir() / "test_images" / "reference_outputs.pt";
  if (!fs::exists(file) || !fs::exists(ref_file))
    GTEST_SKIP() << "real weights / reference outputs not found under " << weights_dir() << " (shared data absent)";

  ModelConfig cfg;
  cfg.arch = "classifier";
  cfg.encoder = "mobilenet_v2";
  cfg.num_classes = 1000;
  cfg.input_size = 224;
  cfg.normalisation = {{0.5}, {0.5}};  // x / 127.5 - 1 on 8-bit pixels
  auto net = make_network(cfg).value();
  WeightImportOptions options;
  options.rules = {{"", "encoder."}, {"classifier.", "classifier."}};
  options.fail_on_unexpected = true;
  options.source = file.string();
  auto report = import_weights(*net, load_state_dict_file(file).value(), options);
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->copied.size(), 314u) << report->summary();
  net->eval();

  auto ref = load_state_dict_file(ref_file);
  ASSERT_TRUE(ref.ok()) << ref.error().message;
  std::map<std::string, torch::Tensor> r(ref->begin(), ref->end());
  torch::Tensor pixels = r.at("input_uint8");  // [3, 224, 224, 3] NHWC uint8 (cat, parrot, grace_hopper)
  torch::Tensor expected = r.at("logits_sym_pad").to(torch::kFloat);  // [3, 1000]
  torch::Tensor x = normalise_input(cfg, pixels.permute({0, 3, 1, 2}).to(torch::kFloat) / 255.0);

  torch::NoGradGuard no_grad;
  torch::Tensor logits = net->forward(x).image_logits;
  ASSERT_EQ(logits.sizes(), expected.sizes());
  EXPECT_LT((logits - expected).abs().max().item<double>(), 1e-3);
  torch::Tensor top1 = logits.argmax(1);
  EXPECT_EQ(top1[0].item<int64_t>(), 285);  // Egyptian cat
  EXPECT_EQ(top1[1].item<int64_t>(), 88);   // macaw
  EXPECT_EQ(top1[2].item<int64_t>(), 652);  // military uniform
}

}  // namespace
}  // namespace pneumo
