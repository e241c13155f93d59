// Loader throughput with heavy augmentation.
//   pipeline_loader_throughput [size=256] [batches=40] [workers=2] [batch_size=16]
//       [dicom_dir labels_csv cache_dir]
// Without the last three: synthetic in-memory samples. With them: builds (or reuses) the
// preprocess cache of every .dcm under dicom_dir (image id = file stem, masks from labels_csv),
// reports its time, and drives the loader from it. Prints one line per worker count.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "pneumo/core/files.hpp"
#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/pipeline/loader.hpp"

namespace {

// Sources for every DICOM under `dir`, labelled from `csv`; nullopt (after printing why) on error.
std::optional<std::vector<pneumo::SampleSource>> real_sources(const char* dir, const char* csv) {
  auto files = pneumo::list_files(dir, {".dcm"});
  auto labels = pneumo::read_label_csv(csv, {});
  if (!files || !labels) {
    std::fprintf(stderr, "%s\n", (!files ? files.error() : labels.error()).message.c_str());
    return std::nullopt;
  }
  std::vector<pneumo::SampleSource> sources;
  for (const auto& f : *files) {
    pneumo::SampleSource s{f.stem().string(), f, {}};
    if (const pneumo::ImageLabel* l = labels->find(s.image_id)) s.rle_rows = l->encodings;
    sources.push_back(std::move(s));
  }
  return sources;
}

}  // namespace

int main(int argc, char** argv) {
  const int size = argc > 1 ? std::atoi(argv[1]) : 256;
  const int batches = argc > 2 ? std::atoi(argv[2]) : 40;
  const int max_workers = argc > 3 ? std::atoi(argv[3]) : 2;
  const int batch_size = argc > 4 ? std::atoi(argv[4]) : 16;
  if (argc > 7) {
    auto sources = real_sources(argv[5], argv[6]);
    if (!sources) return 1;
    const auto start = std::chrono::steady_clock::now();
    auto built = pneumo::build_cache(*sources, {.cache_dir = argv[7], .size = size, .show_progress = false});
    if (!built) {
      std::fprintf(stderr, "%s\n", built.error().message.c_str());
      return 1;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("cache %d px: %zu sources, %lld built, %lld reused, %lld failed in %.2f s\n", size, sources->size(),
                built->stats.built, built->stats.reused, built->stats.failed, secs);
    auto store = pneumo::SampleStore::from_cache(built->entries);
    if (!store) {
      std::fprintf(stderr, "%s\n", store.error().message.c_str());
      return 1;
    }
    for (int workers = 1; workers <= max_workers; ++workers) {
      pneumo::LoaderConfig cfg{.batch_size = batch_size, .workers = workers, .prefetch = 2 * workers, .seed = 1,
                               .augment = pneumo::AugmentConfig::heavy()};
      const auto t = pneumo::measure_loader_throughput(*store, cfg, batches);
      std::printf("real cache %d px  batch %d  workers %d  heavy augmentation: %lld images in %.2f s = %.1f images/s\n",
                  size, batch_size, workers, t.images, t.seconds, t.images_per_second);
    }
    return 0;
  }
  // 64 chest-like samples: smooth gradient, rib-like stripes, an elliptical "lesion" in half of them.
  std::vector<pneumo::Sample> samples;
  for (int i = 0; i < 64; ++i) {
    pneumo::Sample s{"bench" + std::to_string(i), pneumo::Image8(size, size), pneumo::Mask(size, size)};
    for (int r = 0; r < size; ++r)
      for (int c = 0; c < size; ++c) {
        const int stripe = ((r + i) / 12) % 2 ? 30 : 0;
        s.image.at(r, c) = static_cast<std::uint8_t>((r * 150 / size) + stripe + (c * 40 / size));
        const double dr = (r - size * 0.4) / (size * 0.15), dc = (c - size * 0.3) / (size * 0.08);
        if (i % 2 && dr * dr + dc * dc < 1) s.mask.at(r, c) = 1;
      }
    samples.push_back(std::move(s));
  }
  const pneumo::SampleStore store = pneumo::SampleStore::from_samples(std::move(samples));
  for (int workers = 1; workers <= max_workers; ++workers) {
    pneumo::LoaderConfig cfg{.batch_size = batch_size, .workers = workers, .prefetch = 2 * workers, .seed = 1,
                             .augment = pneumo::AugmentConfig::heavy()};
    const auto t = pneumo::measure_loader_throughput(store, cfg, batches);
    std::printf("size %d  batch %d  workers %d  heavy augmentation: %lld images in %.2f s = %.1f images/s\n", size,
                batch_size, workers, t.images, t.seconds, t.images_per_second);
  }
  return 0;
}
