#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "pneumo/pipeline/sampler.hpp"

namespace pneumo {
namespace {

// 200 samples, 30 positive (every index divisible by 7 below 210 ... picked explicitly).
struct Data {
  std::vector<std::string> ids;
  std::vector<bool> positive;
};

Data make_data(std::size_t n = 200, std::size_t n_pos = 30) {
  Data d;
  for (std::size_t i = 0; i < n; ++i) {
    d.ids.push_back("img" + std::to_string(i));
    d.positive.push_back(i % (n / n_pos) == 3 && std::count(d.positive.begin(), d.positive.end(), true) < static_cast<long>(n_pos));
  }
  return d;
}

double share_of_positives(const std::vector<std::size_t>& order, const Data& d) {
  std::size_t pos = 0;
  for (auto i : order) pos += d.positive[i] ? 1 : 0;
  return order.empty() ? 0.0 : static_cast<double>(pos) / order.size();
}

Sampler must_create(const Data& d, SamplerConfig c) {
  auto s = Sampler::create(d.ids, d.positive, std::move(c));
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return std::move(s).value();
}

TEST(Sampler, ShuffleIsAPermutationDeterministicBySeedAndEpoch) {
  const Data d = make_data();
  const Sampler a = must_create(d, {.kind = SamplerKind::kShuffle, .seed = 5});
  const Sampler b = must_create(d, {.kind = SamplerKind::kShuffle, .seed = 5});
  const Sampler c = must_create(d, {.kind = SamplerKind::kShuffle, .seed = 6});
  auto o = a.epoch_indices(0);
  EXPECT_EQ(o, b.epoch_indices(0));
  EXPECT_NE(o, c.epoch_indices(0));
  EXPECT_NE(o, a.epoch_indices(1));
  std::vector<std::size_t> sorted = o;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i) ASSERT_EQ(sorted[i], i);

  const Sampler seq = must_create(d, {.kind = SamplerKind::kSequential});
  auto s = seq.epoch_indices(3);
  for (std::size_t i = 0; i < s.size(); ++i) ASSERT_EQ(s[i], i);
}

TEST(Sampler, PositiveShareFollowsStepSchedule) {
  const Data d = make_data();  // 15% positives
  SamplerConfig c{.kind = SamplerKind::kPositiveShare, .seed = 1, .epoch_length = 400,
                  .share_schedule = {{0, 0.8}, {5, 0.6}, {10, 0.4}}};
  const Sampler s = must_create(d, c);
  const std::map<int, double> expected = {{0, 0.8}, {4, 0.8}, {5, 0.6}, {9, 0.6}, {10, 0.4}, {50, 0.4}};
  for (const auto& [epoch, share] : expected) {
    EXPECT_DOUBLE_EQ(s.positive_share(epoch), share) << epoch;
    const auto order = s.epoch_indices(epoch);
    ASSERT_EQ(order.size(), 400u);
    EXPECT_NEAR(share_of_positives(order, d), share, 1.0 / 400) << "epoch " << epoch;
  }
  // Positives are drawn in whole passes: 320 positives from 30 means each appears 10 or 11 times.
  std::map<std::size_t, int> counts;
  for (auto i : s.epoch_indices(0))
    if (d.positive[i]) ++counts[i];
  EXPECT_EQ(counts.size(), 30u);
  for (const auto& [i, n] : counts) EXPECT_TRUE(n == 10 || n == 11) << i << " drawn " << n;
}

TEST(Sampler, PositiveShareLinearInterpolates) {
  const Data d = make_data();
  SamplerConfig c{.kind = SamplerKind::kPositiveShare, .seed = 1, .share_schedule = {{0, 0.8}, {10, 0.4}},
                  .interpolation = ScheduleInterpolation::kLinear};
  const Sampler s = must_create(d, c);
  EXPECT_DOUBLE_EQ(s.positive_share(0), 0.8);
  EXPECT_NEAR(s.positive_share(5), 0.6, 1e-12);
  EXPECT_NEAR(s.positive_share(7), 0.52, 1e-12);
  EXPECT_DOUBLE_EQ(s.positive_share(20), 0.4);
  const auto order = s.epoch_indices(5);
  EXPECT_EQ(order.size(), d.ids.size());  // epoch_length 0 = dataset size
  EXPECT_NEAR(share_of_positives(order, d), 0.6, 1.0 / 200);
}

TEST(Sampler, ClassWeightedAutoBalancesClasses) {
  const Data d = make_data();
  const Sampler s = must_create(d, {.kind = SamplerKind::kClassWeighted, .seed = 3, .epoch_length = 4000});
  EXPECT_NEAR(share_of_positives(s.epoch_indices(0), d), 0.5, 0.03);
  const Sampler w = must_create(d, {.kind = SamplerKind::kClassWeighted, .seed = 3, .epoch_length = 4000,
                                    .positive_weight = 3, .negative_weight = 1});
  // 30 * 3 / (30 * 3 + 170) = 0.346
  EXPECT_NEAR(share_of_positives(w.epoch_indices(0), d), 90.0 / 260.0, 0.03);
  EXPECT_NEAR(w.positive_share(0), 90.0 / 260.0, 1e-12);
}

TEST(Sampler, HardExamplesAreOversampled) {
  const Data d = make_data();
  SamplerConfig c{.kind = SamplerKind::kShuffle, .seed = 2, .hard_example_ids = {"img10", "img11", "nope"},
                  .hard_example_factor = 4};
  const Sampler s = must_create(d, c);
  EXPECT_EQ(s.unknown_hard_ids(), 1u);
  const auto order = s.epoch_indices(0);
  EXPECT_EQ(order.size(), 200u + 2 * 3);
  EXPECT_EQ(std::count(order.begin(), order.end(), 10u), 4);
  EXPECT_EQ(std::count(order.begin(), order.end(), 11u), 4);
  EXPECT_EQ(std::count(order.begin(), order.end(), 12u), 1);
}

TEST(Sampler, DistributedShardsAreDisjointEqualAndCovering) {
  const Data d = make_data(203, 29);  // 203 is not a multiple of 4: padding needed
  for (int world : {1, 2, 4, 7}) {
    std::vector<std::vector<std::size_t>> shards;
    for (int rank = 0; rank < world; ++rank) {
      shards.push_back(must_create(d, {.kind = SamplerKind::kShuffle, .seed = 9, .rank = rank, .world_size = world})
                           .epoch_indices(2));
    }
    const std::vector<std::size_t> full = must_create(d, {.kind = SamplerKind::kShuffle, .seed = 9}).epoch_order(2);
    const std::size_t per_rank = (full.size() + world - 1) / world;
    // Oracle: position p of the padded order goes to rank p % world.
    std::vector<std::size_t> padded = full;
    for (std::size_t i = 0; padded.size() < per_rank * world; ++i) padded.push_back(full[i]);
    std::multiset<std::size_t> all;
    for (int rank = 0; rank < world; ++rank) {
      ASSERT_EQ(shards[rank].size(), per_rank) << "world " << world;
      for (std::size_t j = 0; j < per_rank; ++j) ASSERT_EQ(shards[rank][j], padded[j * world + rank]);
      all.insert(shards[rank].begin(), shards[rank].end());
    }
    // Every index appears; only the padding repeats any (at most world - 1 extra).
    std::set<std::size_t> distinct(all.begin(), all.end());
    EXPECT_EQ(distinct.size(), d.ids.size());
    EXPECT_EQ(all.size() - d.ids.size(), per_rank * world - full.size());
  }
}

TEST(Sampler, SaveRestoreRoundTripAndRejectsChangedDataset) {
  const Data d = make_data();
  SamplerConfig c{.kind = SamplerKind::kPositiveShare, .seed = 11, .epoch_length = 300,
                  .share_schedule = {{0, 0.7}, {3, 0.5}}, .interpolation = ScheduleInterpolation::kLinear,
                  .hard_example_ids = {"img3"}, .hard_example_factor = 2, .rank = 1, .world_size = 2};
  const Sampler s = must_create(d, c);
  const nlohmann::json saved = nlohmann::json::parse(s.save({.epoch = 4, .position = 64}).dump());
  auto back = Sampler::restore(saved, d.ids, d.positive);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->first.config(), c);
  EXPECT_EQ(back->second.epoch, 4);
  EXPECT_EQ(back->second.position, 64u);
  EXPECT_EQ(back->first.epoch_indices(4), s.epoch_indices(4));

  Data changed = d;
  changed.positive[0] = !changed.positive[0];
  auto bad = Sampler::restore(saved, changed.ids, changed.positive);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("dataset_fingerprint"), std::string::npos);
}

TEST(Sampler, InvalidConfigsAreErrors) {
  const Data d = make_data();
  EXPECT_FALSE(Sampler::create(d.ids, d.positive, {.kind = SamplerKind::kPositiveShare}).ok());  // no schedule
  EXPECT_FALSE(Sampler::create(d.ids, d.positive, {.kind = SamplerKind::kPositiveShare, .share_schedule = {{0, 1.2}}}).ok());
  EXPECT_FALSE(Sampler::create(d.ids, d.positive,
                               {.kind = SamplerKind::kPositiveShare, .share_schedule = {{5, 0.5}, {5, 0.4}}}).ok());
  EXPECT_FALSE(Sampler::create(d.ids, d.positive, {.rank = 2, .world_size = 2}).ok());
  EXPECT_FALSE(Sampler::create(d.ids, d.positive, {.hard_example_factor = 0}).ok());
  EXPECT_FALSE(Sampler::create({}, {}, {}).ok());
  std::vector<bool> none(d.ids.size(), false);
  auto err = Sampler::create(d.ids, none, {.kind = SamplerKind::kPositiveShare, .share_schedule = {{0, 0.5}}});
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("none"), std::string::npos) << err.error().message;
  EXPECT_FALSE(sampler_config_from_json(nlohmann::json::parse(R"({"kind": "random"})")).ok());
  EXPECT_FALSE(sampler_config_from_json(nlohmann::json::parse(R"({"seeed": 1})")).ok());
  EXPECT_FALSE(sampler_config_from_json(nlohmann::json::parse(R"({"seed": "x"})")).ok());
}

}  // namespace
}  // namespace pneumo
