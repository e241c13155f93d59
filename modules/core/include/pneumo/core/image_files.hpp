// Plain image files (PNG, JPEG) used as training or prediction inputs beside DICOMs, such as
// SIIM images exported as `<ImageId>.jpg` without a DICOM header.
//
//   if (pneumo::is_plain_image_file(path)) {
//     auto size = pneumo::read_image_size(path);   // from the PNG IHDR / JPEG SOF, no decoding
//     if (size) use(size->rows, size->cols);
//   }
//
// Thread-safety: pure functions over files; safe to call concurrently.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct ImageSize {
  int rows = 0;
  int cols = 0;
  int channels = 0;  // 1 = grey, 3 = colour (YCbCr/RGB), 4 = CMYK/RGBA
};

// ".png", ".jpg", ".jpeg" in any case.
bool is_plain_image_file(const std::filesystem::path& path);
// The extensions above, lower case with the dot, for list_files.
const std::vector<std::string>& plain_image_extensions();

// Size and channel count read from the header alone (PNG IHDR chunk, JPEG SOFn marker).
// Errors (kBadInput) name the file and what was wrong: not PNG/JPEG, truncated header, zero size.
Result<ImageSize> read_image_size(const std::filesystem::path& path);
// Same, from bytes already in memory; `name` is used in error messages.
Result<ImageSize> read_image_size(const unsigned char* data, std::size_t size, const std::string& name);

}  // namespace pneumo
