// Plain image types shared by every module; no OpenCV, DCMTK or torch types in public APIs.
//
//   pneumo::Image8 img(rows, cols);     // zero-filled
//   img.at(r, c) = 255;
//
// Masks are Image8 holding 0 or 1 (not 0/255); PNG writers scale to 0/255.
// Thread-safety: plain value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pneumo {

struct Image8 {
  int rows = 0;
  int cols = 0;
  std::vector<std::uint8_t> px;  // row-major, rows*cols bytes

  Image8() = default;
  Image8(int r, int c, std::uint8_t fill = 0) : rows(r), cols(c), px(static_cast<std::size_t>(r) * c, fill) {}

  bool empty() const { return px.empty(); }
  std::uint8_t& at(int r, int c) { return px[static_cast<std::size_t>(r) * cols + c]; }
  std::uint8_t at(int r, int c) const { return px[static_cast<std::size_t>(r) * cols + c]; }
  bool operator==(const Image8&) const = default;
};

// A binary mask: every pixel 0 or 1.
using Mask = Image8;

// Number of non-zero pixels.
long long count_nonzero(const Image8& img);

}  // namespace pneumo
