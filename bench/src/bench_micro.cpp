// bench_micro: Google Benchmark micro-benchmarks of pneumo hot paths (no Python peer, no data).
//
//   build/bench/bench_micro [--benchmark_filter=Rle]
//
// Inputs are deterministic synthetic masks (a filled disk and a set of stripes), so the figures
// need no ../shared/data and are comparable across machines and commits.
#include <benchmark/benchmark.h>

#include <string>

#include "pneumo/mask_rle/mask_rle.hpp"

namespace {

constexpr int kSide = 1024;

// A filled disk of the given radius at the centre: one run per touched column.
pneumo::Mask disk_mask(int radius) {
  pneumo::Mask mask(kSide, kSide);
  for (int r = 0; r < kSide; ++r) {
    for (int c = 0; c < kSide; ++c) {
      const int dr = r - kSide / 2;
      const int dc = c - kSide / 2;
      if (dr * dr + dc * dc <= radius * radius) mask.at(r, c) = 1;
    }
  }
  return mask;
}

// Horizontal stripes every 8 rows: many short runs per column (a worst case for the encoder).
pneumo::Mask striped_mask() {
  pneumo::Mask mask(kSide, kSide);
  for (int r = 0; r < kSide; r += 8) {
    for (int c = 0; c < kSide; ++c) mask.at(r, c) = 1;
  }
  return mask;
}

void BM_EncodeDisk(benchmark::State& state) {
  const pneumo::Mask mask = disk_mask(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(pneumo::encode_rle(mask, pneumo::RleFormat::kRelative));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeDisk)->Arg(0)->Arg(50)->Arg(300);

void BM_DecodeDisk(benchmark::State& state) {
  const std::string encoded =
      pneumo::encode_rle(disk_mask(static_cast<int>(state.range(0))), pneumo::RleFormat::kRelative);
  for (auto _ : state) {
    auto mask = pneumo::decode_rle(encoded, kSide, kSide, pneumo::RleFormat::kRelative);
    benchmark::DoNotOptimize(mask);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeDisk)->Arg(0)->Arg(50)->Arg(300);

void BM_EncodeStripes(benchmark::State& state) {
  const pneumo::Mask mask = striped_mask();
  for (auto _ : state) benchmark::DoNotOptimize(pneumo::encode_rle(mask, pneumo::RleFormat::kRelative));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeStripes);

void BM_DecodeStripes(benchmark::State& state) {
  const std::string encoded = pneumo::encode_rle(striped_mask(), pneumo::RleFormat::kRelative);
  for (auto _ : state) {
    auto mask = pneumo::decode_rle(encoded, kSide, kSide, pneumo::RleFormat::kRelative);
    benchmark::DoNotOptimize(mask);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeStripes);

}  // namespace

BENCHMARK_MAIN();
