// Resizing images and masks for the training cache.
//
//   pneumo::Image8 small = pneumo::resize_image(dicom.image, /*rows=*/256, /*cols=*/256);
//   pneumo::Mask small_mask = pneumo::resize_mask(mask, /*rows=*/256, /*cols=*/256);
//
// resize_image: area averaging when shrinking (no aliasing), bilinear when enlarging.
// resize_mask: area averaging, then a pixel is 1 when at least half of its footprint was 1
// (threshold 0.5). Unlike nearest neighbour this keeps the mask's area and shape stable at any
// scale factor. One safeguard: a non-empty mask never becomes empty — if every output pixel falls
// below 0.5, the output pixels with the highest coverage are set, so a small pneumothorax still
// counts as positive after downscaling.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>  // before image.hpp, which uses size_t without including it

#include "pneumo/core/image.hpp"

namespace pneumo {

// requires: rows > 0, cols > 0, !image.empty()
Image8 resize_image(const Image8& image, int rows, int cols);
// requires: rows > 0, cols > 0, !mask.empty(); mask holds 0/1. ensures: result holds 0/1.
Mask resize_mask(const Mask& mask, int rows, int cols);

}  // namespace pneumo
