// Every pre-training method on a few tiny phantoms, one epoch, then the weights imported into a
// U-Net exactly as `pneumo train --encoder-weights` imports them (load_state_dict_file +
// import_encoder_weights), with every encoder tensor copied.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "pneumo/core/files.hpp"
#include "pneumo/model/network.hpp"
#include "pneumo/model/weights.hpp"
#include "pneumo/pretrain/pretrain.hpp"
#include "pneumo/synth/synth.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

class PretrainTest : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("pneumo-pretrain-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    SynthOptions opt;
    opt.count = 16;
    opt.seed = 5;
    opt.size = 64;
    opt.positive_share = 0.25;
    opt.threads = 2;
    auto s = generate_synthetic_dataset(root_ / "data", opt);
    ASSERT_TRUE(s.ok()) << s.error().message;
    summary_ = s.value();
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static PretrainConfig config(PretrainMethod method, const std::string& name) {
    PretrainConfig c;
    c.method = method;
    c.data_dirs = {summary_.dicom_dir};
    c.csv = summary_.csv_path;
    c.cache_dir = root_ / "cache";
    c.out_dir = root_ / name;
    c.size = 64;
    c.epochs = 1;
    c.batch = 8;
    c.clusters = 2;
    c.latent = 8;
    c.pca_components = 4;
    c.threads = 2;
    c.workers = 1;
    c.seed = 11;
    return c;
  }

  // Imports OUT/encoder.pt into a fresh U-Net as train does; checks every encoder tensor was copied
  // and holds the file's values.
  static void expect_importable(const PretrainSummary& s) {
    auto sd = load_state_dict_file(s.weights_file);
    ASSERT_TRUE(sd.ok()) << sd.error().message;
    EXPECT_EQ(static_cast<int>(sd->size()), s.encoder_tensors);
    for (const auto& [name, t] : *sd) EXPECT_NE(name.rfind("encoder.", 0), 0u) << name;
    ModelConfig m;
    m.arch = "unet";
    m.encoder = "mobilenet_v2";
    m.in_channels = 1;
    m.input_size = 64;
    m.normalisation = default_normalisation(1);
    auto net = make_network(m);
    ASSERT_TRUE(net.ok()) << net.error().message;
    auto report = import_encoder_weights(*net.value(), sd.value(), s.weights_file.string());
    ASSERT_TRUE(report.ok()) << report.error().message;
    long long encoder_tensors = 0;
    for (const auto& p : net.value()->named_parameters()) encoder_tensors += p.key().rfind("encoder.", 0) == 0;
    for (const auto& b : net.value()->named_buffers()) encoder_tensors += b.key().rfind("encoder.", 0) == 0;
    EXPECT_EQ(static_cast<long long>(report->copied.size()), encoder_tensors) << report->summary();
    EXPECT_TRUE(report->missing.empty()) << report->summary();
    EXPECT_TRUE(report->unexpected.empty()) << report->summary();
    const auto params = net.value()->named_parameters();
    for (const auto& [name, t] : *sd) {
      if (name == "features.0.0.weight") EXPECT_TRUE(torch::equal(params["encoder." + name], t));
    }
  }

  static nlohmann::json report_of(const PretrainSummary& s) {
    return nlohmann::json::parse(read_file(s.report_file).value());
  }

  static inline fs::path root_;
  static inline SynthSummary summary_;
};

TEST_F(PretrainTest, ClassifierOnSiimLabels) {
  auto c = config(PretrainMethod::kClassifier, "classifier");
  auto s = run_pretraining(c, {.quiet = true});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->images, 16);
  EXPECT_GE(s->final_accuracy, 0.0);
  EXPECT_LE(s->final_accuracy, 1.0);
  auto j = report_of(s.value());
  EXPECT_EQ(j["config"]["seed"], 11);
  EXPECT_EQ(j["stages"][0]["epochs"].size(), 1u);
  EXPECT_EQ(j["stages"][0]["sampler"], "class-weighted (balanced)");
  EXPECT_TRUE(fs::exists(c.out_dir / "plots"));
  expect_importable(s.value());
}

TEST_F(PretrainTest, ClassifierOnChestXray14Csv) {
  // Multi-label CSV naming the phantom files; half "No Finding", half Pneumothorax|Effusion.
  auto files = list_files(summary_.dicom_dir, {".dcm"});
  ASSERT_TRUE(files.ok());
  std::string csv = "Image Index,Finding Labels,Patient ID\n";
  for (std::size_t i = 0; i < files->size(); ++i) {
    csv += (*files)[i].filename().string() + "," + (i % 2 ? "Pneumothorax|Effusion" : "No Finding") + ",1\n";
  }
  ASSERT_TRUE(write_file_atomic(root_ / "cxr14.csv", csv).ok());
  auto c = config(PretrainMethod::kClassifier, "cxr14");
  c.csv = root_ / "cxr14.csv";
  auto s = run_pretraining(c, {.quiet = true});
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(report_of(s.value())["images"]["labels"], "chestxray14");
  expect_importable(s.value());
}

// The generative stage alone (codes, PCA, DBSCAN, its own encoder), then pseudo-labels on its codes.
void check_generative_then_pseudo_labels(PretrainMethod codes) {
  auto c = PretrainTest::config(codes, pretrain_method_name(codes));
  auto s = run_pretraining(c, {.quiet = true});
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto j = PretrainTest::report_of(s.value());
  ASSERT_TRUE(j.contains("clustering"));
  double sum = 0;
  for (double r : j["clustering"]["pca"]["explained_variance_ratio"]) sum += r;
  EXPECT_GT(sum, 0.0);
  EXPECT_LE(sum, 1.0 + 1e-9);
  long long members = j["clustering"]["dbscan"]["noise"].get<long long>();
  for (long long n : j["clustering"]["dbscan"]["cluster_sizes"]) members += n;
  EXPECT_EQ(members, 16);
  EXPECT_TRUE(fs::exists(c.out_dir / "pseudo_labels.csv"));
  PretrainTest::expect_importable(s.value());

  auto p = PretrainTest::config(PretrainMethod::kPseudoLabels, "pseudo-" + pretrain_method_name(codes));
  p.codes = codes;
  auto ps = run_pretraining(p, {.quiet = true});
  ASSERT_TRUE(ps.ok()) << ps.error().message;
  auto pj = PretrainTest::report_of(ps.value());
  ASSERT_EQ(pj["stages"].size(), 2u);
  EXPECT_EQ(pj["stages"][1]["name"], "cluster-classifier");
  EXPECT_GE(ps->clusters_found, 2);
  // The pseudo-label encoder is a fresh one trained on the clusters, not the autoencoder's.
  auto a = load_state_dict_file(s->weights_file).value();
  auto b = load_state_dict_file(ps->weights_file).value();
  EXPECT_FALSE(torch::equal(a.front().second, b.front().second));
  PretrainTest::expect_importable(ps.value());
}

TEST_F(PretrainTest, AutoencoderThenPseudoLabels) { check_generative_then_pseudo_labels(PretrainMethod::kAutoencoder); }
TEST_F(PretrainTest, VaeThenPseudoLabels) { check_generative_then_pseudo_labels(PretrainMethod::kVae); }

TEST_F(PretrainTest, BadInputIsOneClearError) {
  auto c = config(PretrainMethod::kPseudoLabels, "bad");
  c.clusters = 1;
  auto s = run_pretraining(c, {.quiet = true});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find("--clusters"), std::string::npos) << s.error().message;

  EXPECT_FALSE(parse_pretrain_method("simclr").ok());

  ASSERT_TRUE(ensure_directory(root_ / "empty").ok());
  auto e = config(PretrainMethod::kAutoencoder, "empty-out");
  e.data_dirs = {root_ / "empty"};
  e.csv.clear();
  auto es = run_pretraining(e, {.quiet = true});
  ASSERT_FALSE(es.ok());
  EXPECT_EQ(es.error().code, ErrorCode::kBadInput);
  EXPECT_NE(es.error().message.find("no readable"), std::string::npos) << es.error().message;

  auto k = config(PretrainMethod::kClassifier, "nocsv");
  k.csv.clear();
  EXPECT_FALSE(run_pretraining(k, {.quiet = true}).ok());
}

}  // namespace
}  // namespace pneumo
