// Predictor on tiny model files built here (MobileNetV2 U-Net / classifier at 64 px): shapes,
// hflip TTA, ensembles, the classifier gate, post-processing and model-file round trips; SHA-256
// against the FIPS 180-4 examples.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>

#include "pneumo/eval/postprocess.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/model/model_file.hpp"
#include "pneumo/model/network.hpp"
#include "pneumo/transforms/resize.hpp"

namespace fs = std::filesystem;
using namespace pneumo;

namespace {

constexpr int kSize = 64;

ModelConfig tiny_config(const std::string& arch) {
  ModelConfig c;
  c.arch = arch;
  c.encoder = "mobilenet_v2";
  c.in_channels = 1;
  c.normalisation = default_normalisation(1);
  c.input_size = kSize;
  c.decoder_channels = {32, 16, 16, 8, 8};
  return c;
}

// Writes a randomly initialised (seeded) model file. BatchNorm running stats are perturbed so
// eval-mode outputs are not degenerate.
fs::path make_model_file(const fs::path& dir, const std::string& name, const ModelConfig& config, int seed,
                         const nlohmann::json& extra = nlohmann::json::object()) {
  torch::manual_seed(seed);
  auto net = make_network(config).value();
  {
    torch::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  const fs::path path = dir / name;
  auto st = save_model_file(path, config, *net, extra);
  EXPECT_TRUE(st) << (st ? "" : st.error().message);
  return path;
}

Image8 random_image(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  Image8 img(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) img.at(r, c) = static_cast<std::uint8_t>((c * 3 + r * 2 + rng() % 40) & 0xff);
  return img;
}

Image8 mirror(const Image8& img) {
  Image8 out(img.rows, img.cols);
  for (int r = 0; r < img.rows; ++r)
    for (int c = 0; c < img.cols; ++c) out.at(r, c) = img.at(r, img.cols - 1 - c);
  return out;
}

double max_abs_diff(const ProbMap& a, const ProbMap& b) {
  EXPECT_EQ(a.p.size(), b.p.size());
  double m = 0;
  for (std::size_t i = 0; i < a.p.size() && i < b.p.size(); ++i) m = std::max(m, std::fabs(double(a.p[i]) - b.p[i]));
  return m;
}

Predictor load_or_die(const PredictorOptions& options) {
  auto p = Predictor::load(options);
  if (!p) ADD_FAILURE() << p.error().message;
  return std::move(p.value());
}

class PredictorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("pneumo_infer_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    ModelConfig seg = tiny_config("unet");
    seg.thresholds.pixel_threshold = 0.37;
    seg.thresholds.min_component_area = 3;
    segmenter_ = make_model_file(dir_, "seg.pneumo", seg, 1, {{"val_dice", 0.5}});
    segmenter2_ = make_model_file(dir_, "seg2.pneumo", tiny_config("unet"), 2);
    classifier_ = make_model_file(dir_, "cls.pneumo", tiny_config("classifier"), 3);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static PredictorOptions options(std::vector<fs::path> files) {
    PredictorOptions o;
    o.model_files = std::move(files);
    o.threads = 1;  // the suite runs beside other tests on 2 cores; more intra-op threads only contend
    o.batch = 3;
    return o;
  }

  static inline fs::path dir_, segmenter_, segmenter2_, classifier_;
};

TEST_F(PredictorTest, ShapesSizesAndModelInfo) {
  Predictor p = load_or_die(options({segmenter_}));
  EXPECT_EQ(p.input_size(), kSize);
  ASSERT_EQ(p.models().size(), 1u);
  EXPECT_EQ(p.models()[0].arch, "unet");
  EXPECT_EQ(p.models()[0].encoder, "mobilenet_v2");
  EXPECT_EQ(p.models()[0].input_size, kSize);
  EXPECT_EQ(p.models()[0].sha256, sha256_file(segmenter_).value());
  EXPECT_EQ(p.models()[0].extra.value("val_dice", 0.0), 0.5);
  // Thresholds come from the model file.
  EXPECT_FLOAT_EQ(p.postprocess().pixel_threshold, 0.37f);
  EXPECT_EQ(p.postprocess().min_component_area, 3);

  // Non-square sources of several sizes, more images than one batch.
  std::vector<Image8> images = {random_image(100, 80, 1), random_image(64, 64, 2), random_image(37, 150, 3),
                                random_image(128, 128, 4)};
  auto preds = p.predict(images);
  ASSERT_TRUE(preds) << preds.error().message;
  ASSERT_EQ(preds->size(), images.size());
  for (std::size_t i = 0; i < images.size(); ++i) {
    const ImagePrediction& pr = preds->at(i);
    EXPECT_EQ(pr.probability_map.rows, kSize);
    EXPECT_EQ(pr.probability_map.cols, kSize);
    EXPECT_EQ(pr.mask.rows, images[i].rows);
    EXPECT_EQ(pr.mask.cols, images[i].cols);
    EXPECT_FALSE(pr.classifier_probability.has_value());
    float max_p = 0;
    for (float v : pr.probability_map.p) {
      ASSERT_GE(v, 0.0f);
      ASSERT_LE(v, 1.0f);
      max_p = std::max(max_p, v);
    }
    // A U-Net's image head is the max of its mask logits, so its probability is the max pixel's.
    EXPECT_NEAR(pr.image_probability, max_p, 1e-5);
    EXPECT_EQ(pr.max_pixel_probability, max_p);
    for (auto v : pr.mask.px) ASSERT_TRUE(v == 0 || v == 1);
    EXPECT_EQ(pr.positive, count_nonzero(pr.mask) > 0);
    // Post-processing at model size, then resize_mask to the source size.
    const Mask expected = resize_mask(apply_postprocess(pr.probability_map, std::nullopt, p.postprocess()),
                                      images[i].rows, images[i].cols);
    EXPECT_EQ(pr.mask, expected) << "image " << i;
  }
  // Batching does not change results: image 1 alone gives the same map.
  auto single = p.predict({images[1]});
  ASSERT_TRUE(single);
  EXPECT_LT(max_abs_diff(single->at(0).probability_map, preds->at(1).probability_map), 1e-5);
}

TEST_F(PredictorTest, HflipTtaIsMeanOfPlainAndMirroredBack) {
  Predictor plain = load_or_die(options({segmenter_}));
  PredictorOptions tta_options = options({segmenter_});
  tta_options.hflip_tta = true;
  Predictor tta = load_or_die(tta_options);
  const Image8 img = random_image(kSize, kSize, 7);  // model size: no resampling involved
  auto a = plain.predict({img, mirror(img)});
  ASSERT_TRUE(a);
  auto t = tta.predict({img});
  ASSERT_TRUE(t);
  const ProbMap expected = average({a->at(0).probability_map, flip_horizontal(a->at(1).probability_map)});
  EXPECT_LT(max_abs_diff(t->at(0).probability_map, expected), 1e-5);
  EXPECT_NEAR(t->at(0).image_probability, 0.5 * (a->at(0).image_probability + a->at(1).image_probability), 1e-5);
  // The random net is not mirror-symmetric, so TTA really changes the map.
  EXPECT_GT(max_abs_diff(t->at(0).probability_map, a->at(0).probability_map), 1e-4);
}

TEST_F(PredictorTest, EnsembleOfSameFileEqualsSingleAndAveragesDifferentOnes) {
  const std::vector<Image8> images = {random_image(90, 70, 11), random_image(64, 64, 12)};
  auto single = load_or_die(options({segmenter_})).predict(images);
  auto twice = load_or_die(options({segmenter_, segmenter_})).predict(images);
  auto other = load_or_die(options({segmenter2_})).predict(images);
  auto pair = load_or_die(options({segmenter_, segmenter2_})).predict(images);
  ASSERT_TRUE(single && twice && other && pair);
  for (std::size_t i = 0; i < images.size(); ++i) {
    EXPECT_LT(max_abs_diff(single->at(i).probability_map, twice->at(i).probability_map), 1e-6);
    EXPECT_EQ(single->at(i).mask, twice->at(i).mask);
    EXPECT_NEAR(single->at(i).image_probability, twice->at(i).image_probability, 1e-6);
    const ProbMap mean = average({single->at(i).probability_map, other->at(i).probability_map});
    EXPECT_LT(max_abs_diff(pair->at(i).probability_map, mean), 1e-5);
    EXPECT_GT(max_abs_diff(single->at(i).probability_map, other->at(i).probability_map), 1e-4);
  }
}

TEST_F(PredictorTest, ClassifierGateBlanksMasksBelowItsThreshold) {
  const std::vector<Image8> images = {random_image(80, 80, 21), random_image(64, 96, 22)};
  PredictorOptions o = options({classifier_, segmenter_});
  PostprocessParams everything;  // p > 0: every pixel of a sigmoid map
  everything.pixel_threshold = 0.0f;
  everything.classifier_threshold = 0.0f;
  o.postprocess_override = everything;
  Predictor gated = load_or_die(o);
  EXPECT_EQ(gated.input_size(), kSize);  // the segmenter's
  auto open = gated.predict(images);
  ASSERT_TRUE(open) << open.error().message;
  auto alone = load_or_die(options({segmenter_})).predict(images);
  ASSERT_TRUE(alone);
  for (std::size_t i = 0; i < images.size(); ++i) {
    const ImagePrediction& pr = open->at(i);
    ASSERT_TRUE(pr.classifier_probability.has_value());
    EXPECT_EQ(pr.image_probability, *pr.classifier_probability);
    EXPECT_EQ(count_nonzero(pr.mask), static_cast<long long>(images[i].rows) * images[i].cols);
    // The classifier does not change the segmenter's map.
    EXPECT_LT(max_abs_diff(pr.probability_map, alone->at(i).probability_map), 1e-6);
  }
  // The gate keeps prob >= threshold: at exactly image 0's probability the mask stays, one float
  // step above it the mask is blanked.
  const float p0 = *open->at(0).classifier_probability;
  ASSERT_LT(p0, 1.0f);
  PostprocessParams at_p0 = everything;
  at_p0.classifier_threshold = p0;
  gated.set_postprocess(at_p0);
  auto kept = gated.predict({images[0]});
  ASSERT_TRUE(kept);
  EXPECT_EQ(count_nonzero(kept->at(0).mask), static_cast<long long>(images[0].rows) * images[0].cols);
  PostprocessParams closed = everything;
  closed.classifier_threshold = std::nextafter(p0, 1.0f);
  gated.set_postprocess(closed);
  EXPECT_EQ(gated.postprocess(), closed);
  auto shut = gated.predict(images);
  ASSERT_TRUE(shut);
  const std::size_t low = 0;
  EXPECT_EQ(count_nonzero(shut->at(low).mask), 0);
  EXPECT_FALSE(shut->at(low).positive);
  EXPECT_EQ(*shut->at(low).classifier_probability, p0);
  // Image 1 is gated exactly when its own probability is below the threshold.
  const float p1 = *open->at(1).classifier_probability;
  EXPECT_EQ(count_nonzero(shut->at(1).mask) > 0, p1 >= closed.classifier_threshold);
  // The map is still computed for the gated image (tune needs it).
  EXPECT_LT(max_abs_diff(shut->at(low).probability_map, alone->at(low).probability_map), 1e-6);
}

TEST_F(PredictorTest, PostprocessOverrideAndErrors) {
  PredictorOptions o = options({segmenter_});
  PostprocessParams none;
  none.pixel_threshold = 1.0f;  // p > 1 never holds
  o.postprocess_override = none;
  Predictor p = load_or_die(o);
  EXPECT_EQ(p.postprocess(), none);
  auto preds = p.predict({random_image(50, 60, 31)});
  ASSERT_TRUE(preds);
  EXPECT_EQ(count_nonzero(preds->at(0).mask), 0);

  EXPECT_EQ(Predictor::load(options({})).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Predictor::load(options({classifier_})).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Predictor::load(options({dir_ / "missing.pneumo"})).error().code, ErrorCode::kNotFound);
  PredictorOptions bad_device = options({segmenter_});
  bad_device.device = "tpu";
  EXPECT_EQ(Predictor::load(bad_device).error().code, ErrorCode::kInvalidArgument);
  auto empty = p.predict({Image8{}});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(PredictorTest, StorePostprocessRoundTripKeepsWeightsAndExtra) {
  const fs::path copy = dir_ / "tuned.pneumo";
  fs::copy_file(segmenter_, copy, fs::copy_options::overwrite_existing);
  const Image8 img = random_image(70, 70, 41);
  auto before = load_or_die(options({copy})).predict({img});
  ASSERT_TRUE(before);

  PostprocessParams params;
  params.triplet = true;
  params.top_threshold = 0.8f;
  params.bottom_threshold = 0.25f;
  params.triplet_min_area = 40;
  params.min_component_area = 12;
  params.classifier_threshold = 0.3f;
  const nlohmann::json note = {{"dice_before", 0.5}, {"dice_after", 0.6}};
  auto st = store_postprocess_in_model_file(copy, params, note);
  ASSERT_TRUE(st) << st.error().message;

  auto loaded = load_model_file(copy);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(postprocess_params_from_json(to_json(loaded->config)["thresholds"]).value(), params);
  EXPECT_EQ(loaded->extra.value("val_dice", 0.0), 0.5);  // kept
  EXPECT_EQ(loaded->extra["tuning"], note);
  ModelConfig expected = tiny_config("unet");
  EXPECT_TRUE(same_architecture(loaded->config, expected));

  Predictor after = load_or_die(options({copy}));
  EXPECT_EQ(after.postprocess(), params);
  EXPECT_NE(after.models()[0].sha256, sha256_file(segmenter_).value());
  auto again = after.predict({img});
  ASSERT_TRUE(again);
  EXPECT_LT(max_abs_diff(again->at(0).probability_map, before->at(0).probability_map), 1e-7);  // same weights

  EXPECT_FALSE(store_postprocess_in_model_file(dir_ / "missing.pneumo", params, note));
  // No temp files left behind next to the model.
  for (const auto& e : fs::directory_iterator(dir_)) EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  EXPECT_EQ(sha256_hex(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

  // A file spanning several read chunks hashes like the same bytes in memory.
  const fs::path path = fs::temp_directory_path() / ("pneumo_sha_" + std::to_string(::getpid()));
  std::string bytes;
  for (int i = 0; i < 200000; ++i) bytes += static_cast<char>((i * 131) & 0xff);
  std::ofstream(path, std::ios::binary) << bytes;
  EXPECT_EQ(sha256_file(path).value(), sha256_hex(bytes));
  fs::remove(path);
  EXPECT_EQ(sha256_file(path).error().code, ErrorCode::kNotFound);
}

}  // namespace
