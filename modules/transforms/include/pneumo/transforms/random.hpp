// Portable seeded random helpers shared by transforms and pipeline.
//
//   std::mt19937_64 rng(pneumo::mix_seed(seed, epoch, index));
//   double u = pneumo::uniform(rng, -0.1, 0.1);
//   std::uint64_t k = pneumo::uniform_index(rng, n);   // in [0, n)
//
// The standard <random> distributions are implementation-defined, so the same seed would give
// different augmentations under libstdc++ and libc++; these helpers are defined bit for bit and
// only use the raw 64-bit output of std::mt19937_64, which the standard does fix.
// Thread-safety: pure functions; an engine must not be shared between threads.
#pragma once

#include <cstdint>
#include <random>

namespace pneumo {

// Uniform double in [0, 1) from the top 53 bits of one draw.
inline double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Uniform double in [lo, hi) (returns lo when hi <= lo).
inline double uniform(std::mt19937_64& rng, double lo, double hi) {
  const double u = uniform01(rng);
  return hi > lo ? lo + (hi - lo) * u : lo;
}

// True with probability p (p <= 0: never, p >= 1: always; one draw either way).
inline bool bernoulli(std::mt19937_64& rng, double p) { return uniform01(rng) < p; }

// Uniform integer in [0, n) without modulo bias; requires n > 0.
inline std::uint64_t uniform_index(std::mt19937_64& rng, std::uint64_t n) {
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // reject the incomplete last block
  std::uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

// SplitMix64 finaliser: decorrelates nearby seeds.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A seed derived from a base seed and two counters (e.g. epoch and sample position), so each
// sample's randomness depends only on these values, never on thread timing.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0) {
  return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b);
}

}  // namespace pneumo
