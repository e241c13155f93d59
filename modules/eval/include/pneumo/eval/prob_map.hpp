// Per-pixel probability maps, as produced by a segmentation model, and the two ways pneumo
// combines them: horizontal-flip test-time augmentation and ensemble averaging.
//
//   pneumo::ProbMap p(256, 256);                  // zero-filled
//   p.at(10, 20) = 0.9f;
//   ProbMap flipped_back = flip_horizontal(model(flip_horizontal(image)));
//   ProbMap tta = average({p, flipped_back});
//
// Thread-safety: plain value types and pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <vector>

namespace pneumo {

struct ProbMap {
  int rows = 0;
  int cols = 0;
  std::vector<float> p;  // row-major, rows*cols values, nominally in [0, 1]

  ProbMap() = default;
  ProbMap(int r, int c, float fill = 0.0f) : rows(r), cols(c), p(static_cast<std::size_t>(r) * c, fill) {}

  float& at(int r, int c) { return p[static_cast<std::size_t>(r) * cols + c]; }
  float at(int r, int c) const { return p[static_cast<std::size_t>(r) * cols + c]; }
  bool operator==(const ProbMap&) const = default;
};

// Mirror left-right: out.at(r, c) == in.at(r, cols-1-c). Its own inverse.
ProbMap flip_horizontal(const ProbMap& map);

// Pixel-wise mean of the maps.
// requires: maps non-empty, all the same rows x cols (else std::invalid_argument: a caller bug).
ProbMap average(const std::vector<ProbMap>& maps);

}  // namespace pneumo
