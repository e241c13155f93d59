// Tests for augment(): each op at p = 1 against hand-computed oracles or geometric invariants.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numbers>
#include <nlohmann/json.hpp>
#include <string>

#include "pneumo/transforms/augment.hpp"
#include "pneumo/transforms/random.hpp"

namespace pneumo {
namespace {

constexpr int kRows = 80;
constexpr int kCols = 96;

// Textured dark background (20..59) with a bright square (200..239) at rows [28, 52), cols [30, 58);
// the mask marks exactly the square.
struct Scene {
  Image8 image{kRows, kCols};
  Mask mask{kRows, kCols};
};

Scene make_scene() {
  Scene s;
  for (int r = 0; r < kRows; ++r) {
    for (int c = 0; c < kCols; ++c) {
      const bool inside = r >= 28 && r < 52 && c >= 30 && c < 58;
      const int texture = (r * 7 + c * 13) % 40;
      s.image.at(r, c) = static_cast<std::uint8_t>((inside ? 200 : 20) + texture);
      s.mask.at(r, c) = inside ? 1 : 0;
    }
  }
  return s;
}

bool is_binary(const Mask& m) {
  for (auto v : m.px) {
    if (v > 1) return false;
  }
  return true;
}

// Mean image intensity inside and outside the mask.
std::pair<double, double> mean_inside_outside(const Image8& img, const Mask& m) {
  double in = 0, out = 0;
  long long n_in = 0, n_out = 0;
  for (size_t i = 0; i < img.px.size(); ++i) {
    if (m.px[i]) {
      in += img.px[i];
      ++n_in;
    } else {
      out += img.px[i];
      ++n_out;
    }
  }
  return {n_in ? in / n_in : -1.0, n_out ? out / n_out : -1.0};
}

struct NamedConfig {
  std::string name;
  AugmentConfig config;
};

std::vector<NamedConfig> geometric_ops() {
  std::vector<NamedConfig> ops;
  AugmentConfig c;
  c.hflip.p = 1;
  ops.push_back({"hflip", c});
  c = {};
  c.shift_scale_rotate = {.p = 1, .shift_limit = 0.1, .scale_limit = 0.2, .rotate_limit = 30, .border = BorderMode::kReflect};
  ops.push_back({"ssr_reflect", c});
  c.shift_scale_rotate.border = BorderMode::kConstant;
  ops.push_back({"ssr_constant", c});
  c = {};
  c.random_resized_crop = {.p = 1, .scale_min = 0.5, .scale_max = 1, .ratio_min = 0.75, .ratio_max = 1.33, .out_rows = 64, .out_cols = 72};
  ops.push_back({"random_resized_crop", c});
  c = {};
  c.elastic = {.p = 1, .alpha = 40, .sigma = 4, .border = BorderMode::kReflect};
  ops.push_back({"elastic", c});
  c = {};
  c.grid_distortion = {.p = 1, .num_steps = 5, .distort_limit = 0.3, .border = BorderMode::kConstant};
  ops.push_back({"grid_distortion", c});
  c = {};
  c.optical_distortion = {.p = 1, .distort_limit = 0.5, .shift_limit = 0.1, .border = BorderMode::kReflect};
  ops.push_back({"optical_distortion", c});
  ops.push_back({"heavy", AugmentConfig::heavy()});
  return ops;
}

std::vector<NamedConfig> photometric_ops() {
  std::vector<NamedConfig> ops;
  AugmentConfig c;
  c.brightness = {.p = 1, .limit = 0.3};
  ops.push_back({"brightness", c});
  c = {};
  c.contrast = {.p = 1, .limit = 0.5};
  ops.push_back({"contrast", c});
  c = {};
  c.gamma = {.p = 1, .gamma_min = 0.5, .gamma_max = 1.5};
  ops.push_back({"gamma", c});
  c = {};
  c.clahe = {.p = 1, .clip_min = 2, .clip_max = 4, .tile_grid = 4};
  ops.push_back({"clahe", c});
  return ops;
}

TEST(Augment, HorizontalFlipMirrorsImageAndMaskExactly) {
  const Scene s = make_scene();
  Scene t = s;
  AugmentConfig c;
  c.hflip.p = 1;
  std::mt19937_64 rng(1);
  augment(t.image, t.mask, c, rng);
  for (int r = 0; r < kRows; ++r) {
    for (int col = 0; col < kCols; ++col) {
      ASSERT_EQ(t.image.at(r, col), s.image.at(r, kCols - 1 - col)) << r << "," << col;
      ASSERT_EQ(t.mask.at(r, col), s.mask.at(r, kCols - 1 - col)) << r << "," << col;
    }
  }
}

TEST(Augment, GeometricOpsMoveImageAndMaskTogether) {
  for (const auto& [name, config] : geometric_ops()) {
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
      Scene t = make_scene();
      std::mt19937_64 rng(seed);
      augment(t.image, t.mask, config, rng);
      SCOPED_TRACE(name + " seed " + std::to_string(seed));
      ASSERT_EQ(t.image.rows, t.mask.rows);
      ASSERT_EQ(t.image.cols, t.mask.cols);
      ASSERT_EQ(t.image.px.size(), static_cast<size_t>(t.image.rows) * t.image.cols);
      ASSERT_TRUE(is_binary(t.mask));
      if (count_nonzero(t.mask) == 0) continue;  // a crop may miss the square
      const auto [in, out] = mean_inside_outside(t.image, t.mask);
      // Unmoved they are ~219 vs ~40; photometric ops in "heavy" shift both but keep the gap.
      EXPECT_GT(in - out, 90.0) << "inside " << in << " outside " << out;
    }
  }
}

TEST(Augment, GeometricOpsActuallyMoveSomething) {
  for (const auto& [name, config] : geometric_ops()) {
    const Scene s = make_scene();
    Scene t = s;
    std::mt19937_64 rng(3);
    augment(t.image, t.mask, config, rng);
    EXPECT_FALSE(t.mask == s.mask && t.image == s.image) << name << " left the scene untouched";
  }
}

TEST(Augment, RandomResizedCropHasRequestedSizeAndScalesTheSquare) {
  AugmentConfig c;
  // Crop exactly a quarter of the area, square, then resize back to 80x96: the square doubles in
  // height and width when it lies inside the crop.
  c.random_resized_crop = {.p = 1, .scale_min = 0.25, .scale_max = 0.25, .ratio_min = 1, .ratio_max = 1, .out_rows = 50, .out_cols = 60};
  Scene t = make_scene();
  std::mt19937_64 rng(7);
  augment(t.image, t.mask, c, rng);
  EXPECT_EQ(t.image.rows, 50);
  EXPECT_EQ(t.image.cols, 60);
  EXPECT_EQ(t.mask.rows, 50);
  EXPECT_EQ(t.mask.cols, 60);
  EXPECT_TRUE(is_binary(t.mask));
}

TEST(Augment, ZeroMagnitudeGeometryIsExactIdentity) {
  // A half-pixel or off-by-one error in any map shows up here.
  std::vector<AugmentConfig> configs(4);
  configs[0].shift_scale_rotate = {.p = 1, .shift_limit = 0, .scale_limit = 0, .rotate_limit = 0, .border = BorderMode::kConstant};
  configs[1].elastic = {.p = 1, .alpha = 0, .sigma = 3, .border = BorderMode::kConstant};
  configs[2].grid_distortion = {.p = 1, .num_steps = 7, .distort_limit = 0, .border = BorderMode::kConstant};
  configs[3].optical_distortion = {.p = 1, .distort_limit = 0, .shift_limit = 0, .border = BorderMode::kConstant};
  for (size_t i = 0; i < configs.size(); ++i) {
    const Scene s = make_scene();
    Scene t = s;
    std::mt19937_64 rng(11);
    augment(t.image, t.mask, configs[i], rng);
    EXPECT_EQ(t.image, s.image) << "config " << i;
    EXPECT_EQ(t.mask, s.mask) << "config " << i;
  }
}

TEST(Augment, ShiftScaleRotateMovesMaskCentroidByTheAffineMap) {
  // Oracle: replay the documented draw order (coins for hflip, random_resized_crop,
  // shift_scale_rotate, then angle, scale, dx, dy) and map the centroid of a small blob with the
  // textbook rotation-about-centre matrix; the warped blob's centroid must land there.
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    Image8 img(100, 120, 10);
    Mask mask(100, 120);
    for (int r = 40; r < 45; ++r)
      for (int c = 70; c < 75; ++c) mask.at(r, c) = 1;
    const double cy0 = 42, cx0 = 72;
    AugmentConfig cfg;
    cfg.shift_scale_rotate = {.p = 1, .shift_limit = 0.1, .scale_limit = 0.2, .rotate_limit = 45, .border = BorderMode::kConstant};

    std::mt19937_64 replay(seed);
    for (int coin = 0; coin < 3; ++coin) uniform01(replay);
    const double angle = uniform(replay, -45, 45) * std::numbers::pi / 180.0;
    const double scale = 1.0 + uniform(replay, -0.2, 0.2);
    const double dx = uniform(replay, -0.1, 0.1) * 120, dy = uniform(replay, -0.1, 0.1) * 100;
    const double a = scale * std::cos(angle), b = scale * std::sin(angle);
    const double cx = 60, cy = 50;  // centre (cols / 2, rows / 2)
    const double ex = a * (cx0 - cx) + b * (cy0 - cy) + cx + dx;
    const double ey = -b * (cx0 - cx) + a * (cy0 - cy) + cy + dy;

    std::mt19937_64 rng(seed);
    augment(img, mask, cfg, rng);
    double sx = 0, sy = 0;
    long long n = 0;
    for (int r = 0; r < mask.rows; ++r)
      for (int c = 0; c < mask.cols; ++c)
        if (mask.at(r, c)) {
          sx += c;
          sy += r;
          ++n;
        }
    ASSERT_GT(n, 0) << "seed " << seed;
    EXPECT_NEAR(sx / n, ex, 0.75) << "seed " << seed;
    EXPECT_NEAR(sy / n, ey, 0.75) << "seed " << seed;
    EXPECT_NEAR(static_cast<double>(n), 25 * scale * scale, 12) << "seed " << seed;
  }
}

TEST(Augment, PhotometricOpsLeaveMaskUntouchedAndChangeImage) {
  for (const auto& [name, config] : photometric_ops()) {
    for (std::uint64_t seed = 0; seed < 10; ++seed) {
      const Scene s = make_scene();
      Scene t = s;
      std::mt19937_64 rng(seed);
      augment(t.image, t.mask, config, rng);
      EXPECT_EQ(t.mask, s.mask) << name;
      EXPECT_EQ(t.image.rows, s.image.rows);
      EXPECT_EQ(t.image.cols, s.image.cols);
      if (seed == 0) {
        EXPECT_NE(t.image, s.image) << name << " did nothing";
      }
    }
  }
}

TEST(Augment, GammaMatchesClosedForm) {
  AugmentConfig c;
  c.gamma = {.p = 1, .gamma_min = 2, .gamma_max = 2};
  Image8 img(1, 256);
  for (int v = 0; v < 256; ++v) img.px[static_cast<size_t>(v)] = static_cast<std::uint8_t>(v);
  Mask mask(1, 256);
  std::mt19937_64 rng(0);
  augment(img, mask, c, rng);
  for (int v = 0; v < 256; ++v) {
    const double expected = std::round(255.0 * (v / 255.0) * (v / 255.0));
    ASSERT_EQ(img.px[static_cast<size_t>(v)], expected) << v;
  }
}

TEST(Augment, BrightnessShiftsUniformlyAndContrastKeepsMean) {
  Image8 flat(10, 10, 100);
  Mask mask(10, 10);
  AugmentConfig b;
  b.brightness = {.p = 1, .limit = 0.2};
  std::mt19937_64 rng(4);
  augment(flat, mask, b, rng);
  for (auto v : flat.px) ASSERT_EQ(v, flat.px[0]);  // a constant shift of a flat image stays flat
  EXPECT_NEAR(flat.px[0], 100, 0.2 * 255 + 1);

  Scene s = make_scene();
  double before = 0;
  for (auto v : s.image.px) before += v;
  AugmentConfig c;
  c.contrast = {.p = 1, .limit = 0.3};
  std::mt19937_64 rng2(9);
  augment(s.image, s.mask, c, rng2);
  double after = 0;
  for (auto v : s.image.px) after += v;
  const double n = static_cast<double>(s.image.px.size());
  EXPECT_NEAR(after / n, before / n, 1.0);  // scaling about the mean keeps the mean (no clipping here)
}

TEST(Augment, SameSeedSameOutputDifferentSeedDifferentOutput) {
  std::vector<NamedConfig> all = geometric_ops();
  for (auto& op : photometric_ops()) all.push_back(op);
  for (const auto& [name, config] : all) {
    Scene a = make_scene(), b = make_scene(), c = make_scene();
    std::mt19937_64 ra(42), rb(42), rc(43);
    augment(a.image, a.mask, config, ra);
    augment(b.image, b.mask, config, rb);
    augment(c.image, c.mask, config, rc);
    EXPECT_EQ(a.image, b.image) << name;
    EXPECT_EQ(a.mask, b.mask) << name;
    if (name != "hflip") {
      EXPECT_NE(a.image, c.image) << name << ": seed had no effect";
    }
  }
}

TEST(Augment, ProbabilityZeroIsIdentity) {
  // Every op configured with strong parameters but p = 0.
  AugmentConfig c = AugmentConfig::heavy();
  c.hflip.p = c.shift_scale_rotate.p = c.clahe.p = c.brightness.p = c.contrast.p = c.gamma.p = 0;
  c.random_resized_crop.p = 0;
  c.distortion_one_of_p = 0;
  c.elastic.p = c.grid_distortion.p = c.optical_distortion.p = 0;
  for (const AugmentConfig& config : {c, AugmentConfig::none()}) {
    for (std::uint64_t seed = 0; seed < 5; ++seed) {
      const Scene s = make_scene();
      Scene t = s;
      std::mt19937_64 rng(seed);
      augment(t.image, t.mask, config, rng);
      EXPECT_EQ(t.image, s.image);
      EXPECT_EQ(t.mask, s.mask);
    }
  }
}

TEST(Augment, HeavyPresetAppliesOpsAtRoughlyTheirRates) {
  // hflip p = 0.5: over 400 seeds, a left-right asymmetric mask is mirrored about half the time.
  AugmentConfig c;
  c.hflip.p = 0.5;
  int flipped = 0;
  for (std::uint64_t seed = 0; seed < 400; ++seed) {
    Scene t = make_scene();
    std::mt19937_64 rng(seed);
    augment(t.image, t.mask, c, rng);
    flipped += t.mask.at(30, kCols - 1 - 31) == 1 && t.mask.at(30, 31) == 0;
  }
  EXPECT_NEAR(flipped / 400.0, 0.5, 0.08);
}

TEST(AugmentConfig, JsonRoundTripAndPresets) {
  for (const char* name : {"none", "light", "heavy"}) {
    auto preset = augment_preset(name);
    ASSERT_TRUE(preset.ok()) << name;
    ASSERT_TRUE(validate(*preset).ok()) << name;
    const nlohmann::json j = augment_config_to_json(*preset);
    auto back = augment_config_from_json(nlohmann::json::parse(j.dump()), name);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, *preset) << name;
  }
  EXPECT_FALSE(augment_preset("medium").ok());
  EXPECT_NE(AugmentConfig::heavy(), AugmentConfig::none());
}

TEST(AugmentConfig, PartialJsonKeepsDefaultsAndErrorsNameTheField) {
  auto partial = augment_config_from_json(nlohmann::json::parse(R"({"hflip": {"p": 0.5}, "elastic": {"p": 0.2, "alpha": 10}})"));
  ASSERT_TRUE(partial.ok()) << partial.error().message;
  EXPECT_EQ(partial->hflip.p, 0.5);
  EXPECT_EQ(partial->elastic.alpha, 10);
  EXPECT_EQ(partial->elastic.sigma, ElasticOp{}.sigma);
  EXPECT_EQ(partial->shift_scale_rotate.p, 0);

  auto typo = augment_config_from_json(nlohmann::json::parse(R"({"elastic": {"p": 0.2, "alpah": 10}})"), "cfg.json");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("cfg.json: elastic.alpah: unknown key"), std::string::npos) << typo.error().message;

  auto bad_p = augment_config_from_json(nlohmann::json::parse(R"({"gamma": {"p": 1.5}})"), "cfg.json");
  ASSERT_FALSE(bad_p.ok());
  EXPECT_NE(bad_p.error().message.find("gamma.p"), std::string::npos) << bad_p.error().message;

  auto bad_type = augment_config_from_json(nlohmann::json::parse(R"({"shift_scale_rotate": {"border": "wrap"}})"));
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.error().message.find("shift_scale_rotate.border"), std::string::npos);

  EXPECT_FALSE(augment_config_from_json(nlohmann::json::parse(R"({"sharpen": {"p": 1}})")).ok());
  EXPECT_FALSE(augment_config_from_json(nlohmann::json::parse("[1, 2]")).ok());
}

TEST(Random, UniformIndexIsInRangeAndRoughlyUniform) {
  std::mt19937_64 rng(1);
  int counts[7] = {};
  for (int i = 0; i < 70000; ++i) {
    const auto k = uniform_index(rng, 7);
    ASSERT_LT(k, 7u);
    ++counts[k];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
  EXPECT_NE(mix_seed(1, 0, 0), mix_seed(1, 0, 1));
  EXPECT_NE(mix_seed(1, 1, 0), mix_seed(1, 0, 1));
}

}  // namespace
}  // namespace pneumo
