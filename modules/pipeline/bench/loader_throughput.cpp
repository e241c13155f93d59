// Loader throughput with heavy augmentation on synthetic in-memory samples.
//   pipeline_loader_throughput [size=256] [batches=40] [workers=2] [batch_size=16]
// Prints one line per configuration: workers, images/s.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "pneumo/pipeline/loader.hpp"

int main(int argc, char** argv) {
  const int size = argc > 1 ? std::atoi(argv[1]) : 256;
  const int batches = argc > 2 ? std::atoi(argv[2]) : 40;
  const int max_workers = argc > 3 ? std::atoi(argv[3]) : 2;
  const int batch_size = argc > 4 ? std::atoi(argv[4]) : 16;
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
