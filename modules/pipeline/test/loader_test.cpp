#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>
#include <unistd.h>

#include "pneumo/core/files.hpp"
#include "pneumo/pipeline/loader.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

constexpr int kRows = 32;
constexpr int kCols = 40;

// Sample i: a gradient background and, for i % 3 != 0, a bright rectangle that depends on i.
Sample make_sample(int i) {
  Sample s{"s" + std::to_string(i), Image8(kRows, kCols), Mask(kRows, kCols)};
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kCols; ++c) s.image.at(r, c) = static_cast<std::uint8_t>((r * 3 + c * 2 + i * 5) % 120);
  if (i % 3 != 0) {
    const int r0 = 2 + i % 11, c0 = 3 + (i * 7) % 17;
    for (int r = r0; r < r0 + 8; ++r)
      for (int c = c0; c < c0 + 10; ++c) {
        s.image.at(r, c) = static_cast<std::uint8_t>(200 + (r + c) % 50);
        s.mask.at(r, c) = 1;
      }
  }
  return s;
}

SampleStore make_store(int n = 37) {
  std::vector<Sample> samples;
  for (int i = 0; i < n; ++i) samples.push_back(make_sample(i));
  return SampleStore::from_samples(std::move(samples));
}

std::vector<Batch> run_epoch(const SampleStore& store, const LoaderConfig& config, int epoch,
                             const std::vector<std::size_t>& order, std::size_t first_batch = 0) {
  Loader loader(store, config);
  loader.start_epoch(epoch, order, first_batch);
  std::vector<Batch> out;
  while (true) {
    auto b = loader.next();
    EXPECT_TRUE(b.ok()) << (b.ok() ? "" : b.error().message);
    if (!b.ok() || !*b) break;
    out.push_back(std::move(**b));
  }
  EXPECT_EQ(loader.batches_consumed(), loader.batches_in_epoch());
  return out;
}

std::vector<std::size_t> reversed_order(std::size_t n) {
  std::vector<std::size_t> order(n);
  std::iota(order.rbegin(), order.rend(), std::size_t{0});
  return order;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.n == b.n && a.height == b.height && a.width == b.width && a.images == b.images && a.masks == b.masks &&
         a.labels == b.labels && a.ids == b.ids;
}

TEST(Loader, UnaugmentedBatchesMatchTheStoreExactly) {
  const SampleStore store = make_store();
  LoaderConfig config{.batch_size = 8, .workers = 3, .seed = 1};
  const auto order = reversed_order(store.size());
  const auto batches = run_epoch(store, config, 0, order);
  ASSERT_EQ(batches.size(), 5u);  // 37 = 4 * 8 + 5
  std::size_t position = 0;
  for (const Batch& b : batches) {
    EXPECT_EQ(b.channels, 1);
    EXPECT_EQ(b.height, kRows);
    EXPECT_EQ(b.width, kCols);
    ASSERT_EQ(b.images.size(), static_cast<std::size_t>(b.n) * kRows * kCols);
    ASSERT_EQ(b.masks.size(), b.images.size());
    ASSERT_EQ(b.labels.size(), static_cast<std::size_t>(b.n));
    for (int k = 0; k < b.n; ++k, ++position) {
      const Sample expected = make_sample(static_cast<int>(order[position]));
      EXPECT_EQ(b.ids[k], expected.image_id);
      EXPECT_EQ(b.labels[k], count_nonzero(expected.mask) > 0 ? 1.0f : 0.0f);
      for (int p = 0; p < kRows * kCols; ++p) {
        const std::size_t at = static_cast<std::size_t>(k) * kRows * kCols + p;
        ASSERT_FLOAT_EQ(b.images[at], expected.image.px[p] / 255.0f);
        ASSERT_EQ(b.masks[at], static_cast<float>(expected.mask.px[p]));
      }
    }
  }
  EXPECT_EQ(batches.back().n, 5);
  EXPECT_EQ(position, store.size());

  config.drop_last = true;
  EXPECT_EQ(run_epoch(store, config, 0, order).size(), 4u);
}

TEST(Loader, SameSeedSameBatchesWithOneOrFourWorkers) {
  const SampleStore store = make_store();
  const auto order = reversed_order(store.size());
  LoaderConfig one{.batch_size = 6, .workers = 1, .prefetch = 1, .seed = 42, .augment = AugmentConfig::heavy()};
  LoaderConfig four = one;
  four.workers = 4;
  four.prefetch = 8;
  const auto a = run_epoch(store, one, 3, order);
  const auto b = run_epoch(store, four, 3, order);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_batch(a[i], b[i])) << "batch " << i;

  // A different seed, or another epoch, augments differently.
  LoaderConfig other = one;
  other.seed = 43;
  EXPECT_FALSE(same_batch(run_epoch(store, other, 3, order)[0], a[0]));
  EXPECT_FALSE(same_batch(run_epoch(store, one, 4, order)[0], a[0]));
}

TEST(Loader, AugmentedValuesStayInRangeAndLabelsMatchMasks) {
  const SampleStore store = make_store();
  LoaderConfig config{.batch_size = 8, .workers = 2, .seed = 7, .augment = AugmentConfig::heavy()};
  for (const Batch& b : run_epoch(store, config, 0, reversed_order(store.size()))) {
    const std::size_t plane = static_cast<std::size_t>(b.height) * b.width;
    for (int k = 0; k < b.n; ++k) {
      bool any = false;
      for (std::size_t p = 0; p < plane; ++p) {
        const float v = b.images[k * plane + p];
        const float m = b.masks[k * plane + p];
        ASSERT_GE(v, 0.0f);
        ASSERT_LE(v, 1.0f);
        ASSERT_TRUE(m == 0.0f || m == 1.0f);
        any |= m == 1.0f;
      }
      EXPECT_EQ(b.labels[k], any ? 1.0f : 0.0f);
    }
  }
}

TEST(Loader, NormalizationIsApplied) {
  const SampleStore store = make_store(4);
  LoaderConfig config{.batch_size = 4, .workers = 1, .normalization = {.mean = 0.5f, .std = 0.25f}};
  const auto batches = run_epoch(store, config, 0, {0, 1, 2, 3});
  ASSERT_EQ(batches.size(), 1u);
  const Sample s = make_sample(2);
  const std::size_t plane = kRows * kCols;
  for (std::size_t p = 0; p < plane; ++p) {
    ASSERT_NEAR(batches[0].images[2 * plane + p], (s.image.px[p] / 255.0f - 0.5f) / 0.25f, 1e-5f);
  }
}

TEST(Loader, ResumeFromABatchGivesTheSameRemainingBatches) {
  const SampleStore store = make_store();
  LoaderConfig config{.batch_size = 5, .workers = 2, .seed = 9, .augment = AugmentConfig::heavy()};
  const auto order = reversed_order(store.size());
  const auto full = run_epoch(store, config, 2, order);
  const auto tail = run_epoch(store, config, 2, order, /*first_batch=*/3);
  ASSERT_EQ(tail.size(), full.size() - 3);
  for (std::size_t i = 0; i < tail.size(); ++i) EXPECT_TRUE(same_batch(tail[i], full[i + 3])) << i;
}

TEST(Loader, RestartingAnEpochMidwayDoesNotHang) {
  const SampleStore store = make_store();
  LoaderConfig config{.batch_size = 2, .workers = 3, .prefetch = 2, .seed = 1, .augment = AugmentConfig::heavy()};
  Loader loader(store, config);
  loader.start_epoch(0, reversed_order(store.size()));
  ASSERT_TRUE(loader.next().ok());
  loader.start_epoch(1, reversed_order(store.size()));  // cancels epoch 0 with workers waiting
  std::size_t n = 0;
  while (true) {
    auto b = loader.next();
    ASSERT_TRUE(b.ok());
    if (!*b) break;
    ++n;
  }
  EXPECT_EQ(n, 19u);
}

class CachedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pneumo_loader_test_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    for (int i = 0; i < 9; ++i) {
      Sample s = make_sample(i);
      CacheEntry e{.image_id = s.image_id, .image_png = dir_ / (s.image_id + ".png"),
                   .mask_png = dir_ / (s.image_id + "_mask.png"), .rows = kRows, .cols = kCols};
      e.mask_pixels = count_nonzero(s.mask);
      e.positive = e.mask_pixels > 0;
      for (auto& v : s.mask.px) v = v ? 255 : 0;
      ASSERT_TRUE(write_png(e.image_png, s.image).ok());
      ASSERT_TRUE(write_png(e.mask_png, s.mask).ok());
      entries_.push_back(e);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::vector<CacheEntry> entries_;
};

TEST_F(CachedStoreTest, MemoryAndDiskResidencyGiveIdenticalBatches) {
  auto memory = SampleStore::from_cache(entries_);
  auto disk = SampleStore::from_cache(entries_, /*memory_budget_bytes=*/0);
  ASSERT_TRUE(memory.ok()) << memory.error().message;
  ASSERT_TRUE(disk.ok()) << disk.error().message;
  EXPECT_EQ(memory->residency(), SampleStore::Residency::kMemory);
  EXPECT_EQ(disk->residency(), SampleStore::Residency::kDisk);
  EXPECT_EQ(memory->positives(), disk->positives());
  EXPECT_EQ(std::count(memory->positives().begin(), memory->positives().end(), true), 6);
  LoaderConfig config{.batch_size = 4, .workers = 2, .seed = 3, .augment = AugmentConfig::light()};
  const auto order = reversed_order(entries_.size());
  const auto a = run_epoch(*memory, config, 0, order);
  const auto b = run_epoch(*disk, config, 0, order);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_batch(a[i], b[i]));

  // load_all_cached: every sample in entry order, unaugmented.
  auto all = load_all_cached(entries_, {}, /*threads=*/2);
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->n, 9);
  for (int i = 0; i < 9; ++i) {
    const Sample s = make_sample(i);
    EXPECT_EQ(all->ids[i], s.image_id);
    const std::size_t plane = kRows * kCols;
    for (std::size_t p = 0; p < plane; ++p) {
      ASSERT_FLOAT_EQ(all->images[i * plane + p], s.image.px[p] / 255.0f);
      ASSERT_EQ(all->masks[i * plane + p], static_cast<float>(s.mask.px[p]));
    }
  }
}

TEST_F(CachedStoreTest, MissingPngIsAnErrorForThatBatchOnly) {
  auto disk = SampleStore::from_cache(entries_, /*memory_budget_bytes=*/0);
  ASSERT_TRUE(disk.ok());
  fs::remove(entries_[4].mask_png);
  EXPECT_FALSE(SampleStore::from_cache(entries_).ok());  // memory residency loads everything now
  EXPECT_FALSE(load_all_cached(entries_).ok());
  Loader loader(*disk, {.batch_size = 3, .workers = 2});
  loader.start_epoch(0, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  auto b0 = loader.next();
  ASSERT_TRUE(b0.ok());
  auto b1 = loader.next();
  ASSERT_FALSE(b1.ok());
  EXPECT_NE(b1.error().message.find("s4_mask.png"), std::string::npos) << b1.error().message;
  auto b2 = loader.next();
  ASSERT_TRUE(b2.ok());
  ASSERT_TRUE(b2->has_value());
  EXPECT_EQ((*b2)->ids[0], "s6");
  auto end = loader.next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST(Loader, ThroughputHookCountsImages) {
  const SampleStore store = make_store(10);
  const LoaderThroughput t = measure_loader_throughput(store, {.batch_size = 4, .workers = 2, .augment = AugmentConfig::heavy()}, 5);
  EXPECT_EQ(t.images, 20);
  EXPECT_GT(t.images_per_second, 0.0);
  EXPECT_TRUE(validate(LoaderConfig{}).ok());
  auto out_of_range = make_batch(store, {0, 10}, 0, 2, 0, LoaderConfig{});
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.error().message.find("index 10"), std::string::npos);
  EXPECT_FALSE(validate(LoaderConfig{.batch_size = 0}).ok());
}

}  // namespace
}  // namespace pneumo
