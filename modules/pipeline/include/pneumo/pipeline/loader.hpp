// Batches for training: a store of cached samples, a multi-threaded prefetching loader, and a
// one-shot loader for validation. Plain float buffers, ready for torch::from_blob.
//
//   auto built = pneumo::build_cache(sources, {.cache_dir = "cache", .size = 256});
//   auto store = pneumo::SampleStore::from_cache(built->entries);   // RAM when it fits
//   pneumo::Loader loader(*store, {.batch_size = 16, .workers = 2, .seed = 7,
//                                  .augment = pneumo::AugmentConfig::heavy()});
//   loader.start_epoch(epoch, sampler.epoch_indices(epoch));
//   while (true) {
//     auto batch = loader.next();                  // Result<std::optional<Batch>>
//     if (!batch) return batch.error();            // a cached PNG vanished or is corrupt
//     if (!*batch) break;                          // end of epoch
//     train_step((*batch)->images, (*batch)->masks);
//   }
//   auto val = pneumo::load_all_cached(val_entries, {}, /*threads=*/2);   // Result<Batch>
//
// Determinism: sample k of an epoch is augmented with an engine seeded from (seed, epoch, k,
// dataset index) and batches are handed out in order, so the batches are bit-identical whatever
// the number of workers or their timing.
// Residency: SampleStore::from_cache keeps every decoded image + mask in RAM when
// rows * cols * 2 bytes * count <= memory_budget_bytes (default 4 GiB: 12k SIIM images at 256 px
// take 1.6 GB), else reads the PNGs on every access (workers decode in parallel).
// Thread-safety: SampleStore is immutable after construction (concurrent load() is fine). A Loader
// is driven by one thread (start_epoch / next); its workers are internal.
#pragma once

#include <condition_variable>
#include <cstddef>  // before image.hpp, which uses size_t without including it
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/pipeline/cache.hpp"
#include "pneumo/transforms/augment.hpp"

namespace pneumo {

// NCHW float buffers; C is 1.
struct Batch {
  int n = 0, channels = 1, height = 0, width = 0;
  std::vector<float> images;  // [N, 1, H, W]: (px / 255 - mean) / std
  std::vector<float> masks;   // [N, 1, H, W]: 0 or 1
  std::vector<float> labels;  // [N]: 1 when the (augmented) mask has any pixel
  std::vector<std::string> ids;
};

// Images become (px / 255 - mean) / std; the default leaves them in [0, 1].
struct Normalization {
  float mean = 0.0f;
  float std = 1.0f;
};

struct Sample {
  std::string image_id;
  Image8 image;
  Mask mask;  // 0/1, same size as image
};

class SampleStore {
 public:
  enum class Residency { kMemory, kDisk };
  static constexpr std::size_t kDefaultMemoryBudget = std::size_t{4} << 30;

  // Loads every PNG now when the cache fits in memory_budget_bytes (errors name the file),
  // otherwise only checks the entries and reads PNGs on demand.
  static Result<SampleStore> from_cache(const std::vector<CacheEntry>& entries,
                                        std::size_t memory_budget_bytes = kDefaultMemoryBudget, int threads = 0);
  // requires: each mask is 0/1 and the same size as its image.
  static SampleStore from_samples(std::vector<Sample> samples);

  std::size_t size() const { return ids_.size(); }
  const std::string& id(std::size_t i) const { return ids_[i]; }
  const std::vector<std::string>& ids() const { return ids_; }
  // Whether the stored (un-augmented) mask has any pixel; what samplers stratify on.
  const std::vector<bool>& positives() const { return positive_; }
  Residency residency() const { return residency_; }
  // A copy of sample i (mask as 0/1). Disk residency: reads both PNGs.
  Result<Sample> load(std::size_t i) const;

 private:
  Residency residency_ = Residency::kMemory;
  std::vector<std::string> ids_;
  std::vector<bool> positive_;
  std::vector<Sample> samples_;     // kMemory
  std::vector<CacheEntry> entries_; // kDisk
};

struct LoaderConfig {
  int batch_size = 16;
  int workers = 2;       // threads assembling batches
  int prefetch = 4;      // batches built or in flight ahead of the consumer (bounded queue)
  bool drop_last = false;  // drop a final partial batch
  std::uint64_t seed = 0;
  AugmentConfig augment;   // AugmentConfig::none() for validation
  Normalization normalization;
};

// batch_size, workers, prefetch >= 1, std > 0, valid augment config.
Status validate(const LoaderConfig& config);

// Assembles one batch: samples order[first .. first + count) of epoch `epoch`, augmented.
// Pure: the loader's workers call this; useful on its own for tests and tools.
// Errors: a sample that cannot be loaded, or samples of different sizes in one batch.
Result<Batch> make_batch(const SampleStore& store, const std::vector<std::size_t>& order, std::size_t first,
                         std::size_t count, int epoch, const LoaderConfig& config);

class Loader {
 public:
  // requires: validate(config) is ok; `store` outlives the loader.
  Loader(const SampleStore& store, LoaderConfig config);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts the workers on the batches of `order` (store indices), from batch `first_batch`
  // (to resume mid-epoch). Cancels an epoch still in progress.
  void start_epoch(int epoch, std::vector<std::size_t> order, std::size_t first_batch = 0);
  // The next batch in order; std::nullopt after the last one; an Error if a sample failed
  // (that batch is lost; later next() calls go on with the following batches).
  Result<std::optional<Batch>> next();

  std::size_t batches_in_epoch() const { return total_batches_; }
  std::size_t batches_consumed() const { return consumed_; }
  const LoaderConfig& config() const { return config_; }

 private:
  void stop_workers();
  void worker_loop();

  const SampleStore& store_;
  LoaderConfig config_;
  int epoch_ = 0;
  std::vector<std::size_t> order_;
  std::size_t total_batches_ = 0;
  std::size_t consumed_ = 0;  // next batch to hand out
  std::size_t next_to_build_ = 0;
  bool stop_ = false;
  std::map<std::size_t, Result<Batch>> ready_;
  std::mutex mutex_;
  std::condition_variable work_cv_;   // workers wait for room in the window
  std::condition_variable ready_cv_;  // next() waits for its batch
  std::vector<std::thread> workers_;
};

// Every sample of `store` (or of the cache entries) in order, unaugmented, as one batch.
Result<Batch> load_all(const SampleStore& store, const Normalization& normalization = {}, int threads = 0);
Result<Batch> load_all_cached(const std::vector<CacheEntry>& entries, const Normalization& normalization = {},
                              int threads = 0);

// Bench hook: drives a Loader over `batches` batches of a shuffled order and reports throughput.
struct LoaderThroughput {
  long long images = 0;
  double seconds = 0;
  double images_per_second = 0;
};
LoaderThroughput measure_loader_throughput(const SampleStore& store, const LoaderConfig& config, int batches);

}  // namespace pneumo
