#include "pneumo/pipeline/loader.hpp"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/transforms/random.hpp"

namespace pneumo {
namespace {

Result<Mask> read_mask_png(const std::filesystem::path& path) {
  auto img = read_png_gray(path);
  if (!img) return img.error();
  for (auto& v : img->px) v = v >= 128 ? 1 : 0;  // stored as 0/255
  return std::move(*img);
}

Result<Sample> read_cached_sample(const CacheEntry& e) {
  auto image = read_png_gray(e.image_png);
  if (!image) return image.error();
  auto mask = read_mask_png(e.mask_png);
  if (!mask) return mask.error();
  if (image->rows != mask->rows || image->cols != mask->cols) {
    return fail(ErrorCode::kBadInput, e.mask_png.string() + ": mask is " + std::to_string(mask->rows) + "x" +
                                          std::to_string(mask->cols) + ", its image is " + std::to_string(image->rows) +
                                          "x" + std::to_string(image->cols));
  }
  return Sample{e.image_id, std::move(*image), std::move(*mask)};
}

// Writes sample `slot` of the batch (buffers already sized).
void fill_slot(Batch& b, std::size_t slot, const Sample& s, const Normalization& norm) {
  const std::size_t plane = static_cast<std::size_t>(b.height) * b.width;
  float* img = b.images.data() + slot * plane;
  float* msk = b.masks.data() + slot * plane;
  const float scale = 1.0f / (255.0f * norm.std);
  const float offset = norm.mean / norm.std;
  bool any = false;
  for (std::size_t i = 0; i < plane; ++i) {
    img[i] = static_cast<float>(s.image.px[i]) * scale - offset;
    msk[i] = s.mask.px[i] ? 1.0f : 0.0f;
    any |= s.mask.px[i] != 0;
  }
  b.labels[slot] = any ? 1.0f : 0.0f;
  b.ids[slot] = s.image_id;
}

Batch empty_batch(std::size_t n, int rows, int cols) {
  Batch b;
  b.n = static_cast<int>(n);
  b.height = rows;
  b.width = cols;
  const std::size_t total = n * static_cast<std::size_t>(rows) * cols;
  b.images.assign(total, 0.0f);
  b.masks.assign(total, 0.0f);
  b.labels.assign(n, 0.0f);
  b.ids.assign(n, {});
  return b;
}

Error size_mismatch(const Sample& s, const Batch& b) {
  return fail(ErrorCode::kInvalidArgument, s.image_id + ": sample is " + std::to_string(s.image.rows) + "x" +
                                               std::to_string(s.image.cols) + " after augmentation, the batch is " +
                                               std::to_string(b.height) + "x" + std::to_string(b.width) +
                                               " (set random_resized_crop.out_rows/out_cols or use one cache size)");
}

}  // namespace

// ---- SampleStore ------------------------------------------------------------------------

Result<SampleStore> SampleStore::from_cache(const std::vector<CacheEntry>& entries, std::size_t memory_budget_bytes,
                                            int threads) {
  SampleStore store;
  std::size_t bytes = 0;
  for (const auto& e : entries) {
    store.ids_.push_back(e.image_id);
    store.positive_.push_back(e.mask_pixels > 0);
    bytes += static_cast<std::size_t>(e.rows) * e.cols * 2;
  }
  if (bytes > memory_budget_bytes) {
    store.residency_ = Residency::kDisk;
    store.entries_ = entries;
    return store;
  }
  store.residency_ = Residency::kMemory;
  store.samples_.resize(entries.size());
  std::vector<std::optional<Error>> errors(entries.size());
  parallel_for(entries.size(), threads > 0 ? threads : default_threads(), [&](std::size_t i) {
    auto s = read_cached_sample(entries[i]);
    if (s) {
      store.samples_[i] = std::move(*s);
    } else {
      errors[i] = s.error();
    }
  });
  for (auto& e : errors) {
    if (e) return *e;
  }
  for (std::size_t i = 0; i < entries.size(); ++i) store.positive_[i] = count_nonzero(store.samples_[i].mask) > 0;
  return store;
}

SampleStore SampleStore::from_samples(std::vector<Sample> samples) {
  SampleStore store;
  store.residency_ = Residency::kMemory;
  for (const auto& s : samples) {
    store.ids_.push_back(s.image_id);
    store.positive_.push_back(count_nonzero(s.mask) > 0);
  }
  store.samples_ = std::move(samples);
  return store;
}

Result<Sample> SampleStore::load(std::size_t i) const {
  if (residency_ == Residency::kMemory) return samples_[i];
  return read_cached_sample(entries_[i]);
}

// ---- batches ----------------------------------------------------------------------------

Status validate(const LoaderConfig& c) {
  if (c.batch_size < 1) return fail(ErrorCode::kInvalidArgument, "batch_size: expected >= 1, got " + std::to_string(c.batch_size));
  if (c.workers < 1) return fail(ErrorCode::kInvalidArgument, "workers: expected >= 1, got " + std::to_string(c.workers));
  if (c.prefetch < 1) return fail(ErrorCode::kInvalidArgument, "prefetch: expected >= 1, got " + std::to_string(c.prefetch));
  if (!(c.normalization.std > 0)) return fail(ErrorCode::kInvalidArgument, "normalization.std: expected > 0");
  return validate(c.augment);
}

Result<Batch> make_batch(const SampleStore& store, const std::vector<std::size_t>& order, std::size_t first,
                         std::size_t count, int epoch, const LoaderConfig& config) {
  Batch batch;
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t position = first + k;
    const std::size_t index = order[position];
    if (index >= store.size()) {
      return fail(ErrorCode::kInvalidArgument, "epoch order position " + std::to_string(position) + ": index " +
                                                   std::to_string(index) + " is past the store's " +
                                                   std::to_string(store.size()) + " samples");
    }
    auto sample = store.load(index);
    if (!sample) return sample.error();
    std::mt19937_64 rng(mix_seed(mix_seed(config.seed, static_cast<std::uint64_t>(epoch), position), index));
    augment(sample->image, sample->mask, config.augment, rng);
    if (k == 0) batch = empty_batch(count, sample->image.rows, sample->image.cols);
    if (sample->image.rows != batch.height || sample->image.cols != batch.width) return size_mismatch(*sample, batch);
    fill_slot(batch, k, *sample, config.normalization);
  }
  return batch;
}

// ---- Loader -----------------------------------------------------------------------------

Loader::Loader(const SampleStore& store, LoaderConfig config) : store_(store), config_(std::move(config)) {}

Loader::~Loader() { stop_workers(); }

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void Loader::start_epoch(int epoch, std::vector<std::size_t> order, std::size_t first_batch) {
  stop_workers();
  const auto bs = static_cast<std::size_t>(config_.batch_size);
  epoch_ = epoch;
  order_ = std::move(order);
  total_batches_ = config_.drop_last ? order_.size() / bs : (order_.size() + bs - 1) / bs;
  consumed_ = std::min(first_batch, total_batches_);
  next_to_build_ = consumed_;
  ready_.clear();
  stop_ = false;
  const std::size_t remaining = total_batches_ - consumed_;
  const std::size_t n_workers = std::min<std::size_t>(static_cast<std::size_t>(config_.workers), remaining);
  for (std::size_t t = 0; t < n_workers; ++t) workers_.emplace_back([this] { worker_loop(); });
}

void Loader::worker_loop() {
  const auto bs = static_cast<std::size_t>(config_.batch_size);
  const auto window = static_cast<std::size_t>(config_.prefetch);
  while (true) {
    std::size_t k;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_cv_.wait(lock, [&] { return stop_ || next_to_build_ >= total_batches_ || next_to_build_ < consumed_ + window; });
      if (stop_ || next_to_build_ >= total_batches_) return;
      k = next_to_build_++;
    }
    const std::size_t first = k * bs;
    const std::size_t count = std::min(bs, order_.size() - first);
    Result<Batch> batch = make_batch(store_, order_, first, count, epoch_, config_);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_.emplace(k, std::move(batch));
    }
    ready_cv_.notify_all();
  }
}

Result<std::optional<Batch>> Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (consumed_ >= total_batches_) return std::optional<Batch>{};
  ready_cv_.wait(lock, [&] { return ready_.count(consumed_) > 0; });
  auto node = ready_.extract(consumed_);
  ++consumed_;
  lock.unlock();
  work_cv_.notify_all();
  Result<Batch>& batch = node.mapped();
  if (!batch) return batch.error();
  return std::optional<Batch>(std::move(batch).value());
}

// ---- helpers ----------------------------------------------------------------------------

Result<Batch> load_all(const SampleStore& store, const Normalization& normalization, int threads) {
  if (store.size() == 0) return Batch{};
  auto first = store.load(0);
  if (!first) return first.error();
  Batch batch = empty_batch(store.size(), first->image.rows, first->image.cols);
  std::vector<std::optional<Error>> errors(store.size());
  parallel_for(store.size(), threads > 0 ? threads : default_threads(), [&](std::size_t i) {
    auto s = store.load(i);
    if (!s) {
      errors[i] = s.error();
    } else if (s->image.rows != batch.height || s->image.cols != batch.width) {
      errors[i] = size_mismatch(*s, batch);
    } else {
      fill_slot(batch, i, *s, normalization);  // disjoint slots: no lock needed
    }
  });
  for (auto& e : errors) {
    if (e) return *e;
  }
  return batch;
}

Result<Batch> load_all_cached(const std::vector<CacheEntry>& entries, const Normalization& normalization, int threads) {
  // Disk residency: each PNG is decoded once, straight into the batch.
  auto store = SampleStore::from_cache(entries, /*memory_budget_bytes=*/0, threads);
  if (!store) return store.error();
  return load_all(*store, normalization, threads);
}

LoaderThroughput measure_loader_throughput(const SampleStore& store, const LoaderConfig& config, int batches) {
  std::vector<std::size_t> order;
  const std::size_t want = static_cast<std::size_t>(std::max(0, batches)) * static_cast<std::size_t>(config.batch_size);
  std::mt19937_64 rng(config.seed);
  while (order.size() < want && store.size() > 0) {
    std::vector<std::size_t> pass(store.size());
    std::iota(pass.begin(), pass.end(), std::size_t{0});
    for (std::size_t i = pass.size(); i > 1; --i) std::swap(pass[i - 1], pass[uniform_index(rng, i)]);
    order.insert(order.end(), pass.begin(), pass.end());
  }
  order.resize(std::min(order.size(), want));
  Loader loader(store, config);
  const auto start = std::chrono::steady_clock::now();
  loader.start_epoch(/*epoch=*/0, order);
  LoaderThroughput t;
  while (true) {
    auto batch = loader.next();
    if (!batch || !*batch) break;
    t.images += (*batch)->n;
  }
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t.images_per_second = t.seconds > 0 ? static_cast<double>(t.images) / t.seconds : 0.0;
  return t;
}

}  // namespace pneumo
