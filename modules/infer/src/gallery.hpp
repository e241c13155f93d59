// Overlay images for the evaluation galleries (OpenCV stays in gallery.cpp).
#pragma once

#include <cstddef>
#include <filesystem>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo::detail {

// Writes a colour PNG: `image` in grey, the truth mask's contour in green and the predicted mask's
// in red, enlarged (bilinear image, nearest masks) so the short side is at least 256 px.
// requires: image, truth and predicted have the same size.
Status write_overlay_png(const std::filesystem::path& png, const Image8& image, const Mask& truth,
                         const Mask& predicted);

}  // namespace pneumo::detail
