#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include <nlohmann/json.hpp>

#include "pneumo/eval/metrics.hpp"
#include "pneumo/eval/search.hpp"

using namespace pneumo;

namespace {

void fill_rect(ProbMap& p, int r0, int c0, int h, int w, float v) {
  for (int r = r0; r < r0 + h; ++r)
    for (int c = c0; c < c0 + w; ++c) p.at(r, c) = v;
}

// Planted data. Positives: truth = 10x5 rect (50 px), probs 0.6 there with a 4x5 core (20 px) at 0.95.
// Negatives: empty truth, a decoy of 10 px at 0.95 inside 40 px above 0.5.
// Background is 0.1. Only triplet (top 0.9, bottom 0.5, min area in (10, 20]) scores Dice 1.
std::vector<EvalSample> planted(int positives, int negatives) {
  std::vector<EvalSample> out;
  for (int i = 0; i < positives + negatives; ++i) {
    EvalSample s;
    s.probs = ProbMap(24, 24, 0.1f);
    s.truth = Mask(24, 24);
    const int shift = i % 5;
    if (i < positives) {
      fill_rect(s.probs, 2 + shift, 3, 10, 5, 0.6f);
      fill_rect(s.probs, 5 + shift, 3, 4, 5, 0.95f);
      for (int r = 2 + shift; r < 12 + shift; ++r)
        for (int c = 3; c < 8; ++c) s.truth.at(r, c) = 1;
    } else {
      fill_rect(s.probs, 10, 10 + shift, 8, 5, 0.6f);
      fill_rect(s.probs, 12, 10 + shift, 2, 5, 0.95f);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// Random smooth-ish maps: a few rectangles of random level over noise, truth near one of them.
std::vector<EvalSample> random_samples(unsigned seed, int count, int size, bool with_classifier) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  std::uniform_int_distribution<int> pos(0, size - 8), len(1, 8), blobs(0, 4);
  std::vector<EvalSample> out;
  for (int i = 0; i < count; ++i) {
    EvalSample s;
    s.probs = ProbMap(size, size);
    for (float& v : s.probs.p) v = 0.35f * u(rng);
    s.truth = Mask(size, size);
    for (int b = blobs(rng); b > 0; --b) fill_rect(s.probs, pos(rng), pos(rng), len(rng), len(rng), u(rng));
    if (u(rng) < 0.5f) {
      const int r0 = pos(rng), c0 = pos(rng), h = len(rng), w = len(rng);
      fill_rect(s.probs, r0, c0, h, w, 0.5f + 0.5f * u(rng));
      for (int r = r0; r < r0 + h; ++r)
        for (int c = c0; c < c0 + w; ++c) s.truth.at(r, c) = 1;
    }
    if (with_classifier && u(rng) < 0.8f) s.classifier_prob = u(rng);
    out.push_back(std::move(s));
  }
  return out;
}

// Oracle: mean Dice of apply_postprocess over the samples, computed the slow, obvious way.
double brute_force(const std::vector<EvalSample>& samples, const PostprocessParams& pp) {
  std::vector<Mask> truth, pred;
  for (const auto& s : samples) {
    truth.push_back(s.truth);
    pred.push_back(apply_postprocess(s.probs, s.classifier_prob, pp));
  }
  return mean_dice(truth, pred);
}

}  // namespace

TEST(EvalSearch, FindsPlantedTripletOptimum) {
  const auto samples = planted(/*positives=*/12, /*negatives=*/18);
  SearchGrid grid;
  grid.top_thresholds = {0.5f, 0.9f};
  grid.bottom_thresholds = {0.05f, 0.5f, 0.7f};
  grid.triplet_min_areas = {0, 15, 30};
  grid.threads = 2;
  auto r = search_postprocess(samples, grid);
  ASSERT_TRUE(r) << r.error().message;
  // no classifier probs: classifier thresholds are not searched
  // triplet: top 0.5 -> bottoms 0.05, 0.5 (0.7 > 0.5 skipped); top 0.9 -> all three; x 3 areas
  EXPECT_EQ(r->table.size(), (2u + 3u) * 3u);
  EXPECT_DOUBLE_EQ(r->best_mean_dice, 1.0);
  EXPECT_FLOAT_EQ(r->best_params.top_threshold, 0.9f);
  EXPECT_FLOAT_EQ(r->best_params.bottom_threshold, 0.5f);
  EXPECT_EQ(r->best_params.triplet_min_area, 15);
  EXPECT_TRUE(r->best_params.triplet);
  int perfect = 0;
  for (const auto& row : r->table) perfect += row.mean_dice == 1.0;
  EXPECT_EQ(perfect, 1);
  // plain thresholding cannot tell the decoys apart: at best all positives right, negatives wrong
  grid.triplet = false;
  auto plain = search_postprocess(samples, grid);
  ASSERT_TRUE(plain);
  EXPECT_DOUBLE_EQ(plain->best_mean_dice, 12.0 / 30);
  EXPECT_FLOAT_EQ(plain->best_params.pixel_threshold, 0.5f);
}

TEST(EvalSearch, FindsPlantedClassifierThreshold) {
  auto samples = planted(10, 10);
  for (std::size_t i = 0; i < samples.size(); ++i) samples[i].classifier_prob = i < 10 ? 0.75f : 0.35f;
  SearchGrid grid;
  grid.triplet = false;
  grid.bottom_thresholds = {0.5f};
  auto r = search_postprocess(samples, grid);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->table.size(), 9u);
  // thresholds 0.4 .. 0.7 all separate the classes; ties go to the first enumerated
  EXPECT_DOUBLE_EQ(r->best_mean_dice, 1.0);
  EXPECT_FLOAT_EQ(r->best_params.classifier_threshold, 0.4f);
  EXPECT_DOUBLE_EQ(r->table[0].mean_dice, 0.5);  // 0.1: nothing gated, every decoy is a FP
  EXPECT_DOUBLE_EQ(r->table[8].mean_dice, 0.5);  // 0.9: everything gated
}

TEST(EvalSearch, EveryRowEqualsApplyPostprocessBruteForce) {
  for (unsigned seed : {7u, 8u}) {
    const auto samples = random_samples(seed, /*count=*/25, /*size=*/32, /*with_classifier=*/seed == 8u);
    SearchGrid grid;
    grid.classifier_thresholds = {0.3f, 0.6f};
    grid.top_thresholds = {0.5f, 0.8f};
    grid.bottom_thresholds = {0.2f, 0.4f, 0.5f};
    grid.triplet_min_areas = {0, 10, 30};
    grid.min_component_areas = {0, 2, 6, 20};
    grid.threads = 2;
    for (bool triplet : {true, false}) {
      grid.triplet = triplet;
      auto r = search_postprocess(samples, grid);
      ASSERT_TRUE(r) << r.error().message;
      double best = -1;
      for (const auto& row : r->table) {
        ASSERT_EQ(row.mean_dice, brute_force(samples, row.params))
            << "seed " << seed << " params " << to_json(row.params).dump();
        best = std::max(best, row.mean_dice);
      }
      EXPECT_EQ(r->best_mean_dice, best);
      EXPECT_EQ(brute_force(samples, r->best_params), best) << "seed " << seed;
    }
  }
}

TEST(EvalSearch, RejectsBadInput) {
  EXPECT_FALSE(search_postprocess({}, SearchGrid{}));
  auto samples = planted(1, 1);
  samples[1].truth = Mask(23, 24);
  auto mismatch = search_postprocess(samples, SearchGrid{});
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("sample 1"), std::string::npos) << mismatch.error().message;

  samples = planted(1, 1);
  SearchGrid grid;
  grid.top_thresholds = {};
  EXPECT_FALSE(search_postprocess(samples, grid));
  grid = SearchGrid{};
  grid.bottom_thresholds = {1.5f};
  EXPECT_FALSE(search_postprocess(samples, grid));
  grid = SearchGrid{};
  grid.min_component_areas = {-1};
  EXPECT_FALSE(search_postprocess(samples, grid));
  grid = SearchGrid{};
  grid.top_thresholds = {0.3f};
  grid.bottom_thresholds = {0.5f};  // every bottom above every top: no grid point
  EXPECT_FALSE(search_postprocess(samples, grid));
}

// Size check from the brief: a default grid (~1000 points) over 300 maps of 256x256 in seconds.
TEST(EvalSearch, DefaultGridOnThreeHundred256MapsIsFast) {
  const auto samples = random_samples(/*seed=*/99, /*count=*/300, /*size=*/256, /*with_classifier=*/true);
  SearchGrid grid;  // defaults: 9 classifier x 20 top/bottom x 6 areas
  grid.min_component_areas = {0, 100};
  const auto start = std::chrono::steady_clock::now();
  auto r = search_postprocess(samples, grid);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->table.size(), 9u * 20u * 6u * 2u);
  std::printf("search: %zu grid points x %zu maps in %.2f s\n", r->table.size(), samples.size(), seconds);
  EXPECT_LT(seconds, 20.0);  // generous: shared 2-core CI; typically well under a second
  EXPECT_EQ(brute_force(samples, r->best_params), r->best_mean_dice);
}
