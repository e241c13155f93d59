// bench_loader: pneumo::Loader with heavy augmentation, from an in-memory SampleStore, timed.
//
//   bench_loader --list-out LIST [--size 256] [--batch 16] [--batches 40] [--workers 0=all]
//                [--reps 3] [--seed 1]
//                [--synthetic 64 | --dicom-dir DIR --csv train-rle.csv --cache-dir CACHE]
//
// Synthetic (default): 64 chest-like samples (gradient, rib-like stripes, an elliptical lesion in
// every odd one), the same formula as modules/pipeline/bench/loader_throughput.cpp; the Python
// peer rebuilds them bit for bit. Real: every .dcm under --dicom-dir, labelled from --csv, goes
// through pneumo's preprocess cache (built once, untimed, reused on later runs) and the store is
// loaded from it; LIST names every cached image/mask PNG pair (tab-separated, store order) so the
// peer reads the very same pixels.
// One repetition = pneumo::measure_loader_throughput: a seeded shuffled order of batches x batch
// samples, a Loader with --workers threads (prefetch 2 x workers) and AugmentConfig::heavy(),
// every batch consumed. One untimed warm-up repetition of 4 batches first.
// Check fields: samples, sum of all stored pixels and mask pixels (before augmentation), items.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/pipeline/loader.hpp"

namespace {

using pneumo::Result;

std::vector<pneumo::Sample> synthetic_samples(int count, int size) {
  std::vector<pneumo::Sample> samples;
  for (int i = 0; i < count; ++i) {
    pneumo::Sample s{"bench" + std::to_string(i), pneumo::Image8(size, size), pneumo::Mask(size, size)};
    for (int r = 0; r < size; ++r) {
      for (int c = 0; c < size; ++c) {
        const int stripe = ((r + i) / 12) % 2 ? 30 : 0;
        s.image.at(r, c) = static_cast<std::uint8_t>((r * 150 / size) + stripe + (c * 40 / size));
        const double dr = (r - size * 0.4) / (size * 0.15), dc = (c - size * 0.3) / (size * 0.08);
        if (i % 2 && dr * dr + dc * dc < 1) s.mask.at(r, c) = 1;
      }
    }
    samples.push_back(std::move(s));
  }
  return samples;
}

// Every .dcm under dir, labelled from csv, through the preprocess cache.
Result<std::vector<pneumo::CacheEntry>> cached_entries(const std::string& dir, const std::string& csv,
                                                       const std::string& cache_dir, int size) {
  auto files = pneumo::list_files(dir, {".dcm"});
  if (!files) return files.error();
  auto labels = pneumo::read_label_csv(csv, {});
  if (!labels) return labels.error();
  std::vector<pneumo::SampleSource> sources;
  for (const auto& f : *files) {
    pneumo::SampleSource s{f.stem().string(), f, {}};
    if (const pneumo::ImageLabel* l = labels->find(s.image_id)) s.rle_rows = l->encodings;
    sources.push_back(std::move(s));
  }
  auto built = pneumo::build_cache(sources, {.cache_dir = cache_dir, .size = size, .show_progress = false});
  if (!built) return built.error();
  return built->entries;  // sources that failed to decode are left out (the list file says which remain)
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times pneumo::Loader with heavy augmentation"};
  std::string list_out, dicom_dir, csv, cache_dir;
  int size = 256, batch = 16, batches = 40, workers = 0, reps = 3, synthetic = 64;
  std::uint64_t seed = 1;
  app.add_option("--list-out", list_out, "file listing the samples for the peer")->required();
  app.add_option("--size", size, "square sample side");
  app.add_option("--batch", batch, "batch size");
  app.add_option("--batches", batches, "batches per repetition");
  app.add_option("--workers", workers, "loader threads (0 = all cores)");
  app.add_option("--reps", reps, "timed repetitions (median reported)");
  app.add_option("--seed", seed, "loader seed (order and augmentation)");
  app.add_option("--synthetic", synthetic, "number of synthetic samples (when no --dicom-dir)");
  app.add_option("--dicom-dir", dicom_dir, "real DICOMs (searched recursively)");
  app.add_option("--csv", csv, "train-rle.csv labelling them");
  app.add_option("--cache-dir", cache_dir, "preprocess cache directory (built once, then reused)");
  CLI11_PARSE(app, argc, argv);
  if (workers <= 0) workers = pneumo::default_threads();
  const bool real = !dicom_dir.empty();
  if (real && (csv.empty() || cache_dir.empty())) {
    return pneumo::bench::report("bench_loader", pneumo::fail(pneumo::ErrorCode::kInvalidArgument,
                                                              "--dicom-dir needs --csv and --cache-dir"));
  }

  std::optional<pneumo::SampleStore> store;
  std::string list_text;
  if (real) {
    auto entries = cached_entries(dicom_dir, csv, cache_dir, size);
    if (!entries) return pneumo::bench::report("bench_loader", entries.error());
    auto loaded = pneumo::SampleStore::from_cache(*entries);
    if (!loaded) return pneumo::bench::report("bench_loader", loaded.error());
    if (loaded->residency() != pneumo::SampleStore::Residency::kMemory) {
      return pneumo::bench::report("bench_loader", pneumo::fail(pneumo::ErrorCode::kUnsupported,
                                                                "the cache does not fit the memory budget"));
    }
    store.emplace(std::move(loaded.value()));
    for (const auto& e : *entries) list_text += e.image_png.string() + "\t" + e.mask_png.string() + "\n";
  } else {
    store.emplace(pneumo::SampleStore::from_samples(synthetic_samples(synthetic, size)));
    list_text = "synthetic\t" + std::to_string(synthetic) + "\n";
  }
  if (auto st = pneumo::write_file_atomic(list_out, list_text); !st) return pneumo::bench::report("bench_loader", st.error());

  long long pixel_sum = 0, mask_pixels = 0;
  for (std::size_t i = 0; i < store->size(); ++i) {
    auto sample = store->load(i);
    if (!sample) return pneumo::bench::report("bench_loader", sample.error());
    for (auto v : sample->image.px) pixel_sum += v;
    mask_pixels += pneumo::count_nonzero(sample->mask);
  }

  const pneumo::LoaderConfig cfg{.batch_size = batch, .workers = workers, .prefetch = 2 * workers, .seed = seed,
                                 .augment = pneumo::AugmentConfig::heavy()};
  if (auto st = pneumo::validate(cfg); !st) return pneumo::bench::report("bench_loader", st.error());
  pneumo::measure_loader_throughput(*store, cfg, /*batches=*/4);  // warm-up
  long long images = 0;
  const auto t = pneumo::bench::time_reps(reps, [&] { images = pneumo::measure_loader_throughput(*store, cfg, batches).images; });

  nlohmann::json out = pneumo::bench::result_json(t, images, "images");
  out["check"] = {{"samples", static_cast<long long>(store->size())},
                  {"input_pixel_sum", pixel_sum},
                  {"input_mask_pixels", mask_pixels},
                  {"items", images},
                  {"size", size}};
  out["workers"] = workers;
  out["images_per_second"] = t.median_s > 0 ? images / t.median_s : 0.0;
  out["ok"] = images == static_cast<long long>(batch) * batches;
  return pneumo::bench::emit(out);
}
