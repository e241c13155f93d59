// File helpers that never leave a half-written output behind.
//
//   auto st = pneumo::write_file_atomic("out/stats.json", text);
//   auto bytes = pneumo::read_file("in.csv");
//   auto png = pneumo::encode_png(mask_0_255);          // Result<Bytes>, no file involved
//   auto img = pneumo::decode_image_gray(png->data(), png->size(), "upload");
//
// write_file_atomic writes to "<path>.tmp-<pid>-<n>" in the same directory and renames it,
// so a reader sees either the old file or the whole new one. Thread-safe.
#pragma once

#include <filesystem>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo {

Result<std::string> read_file(const std::filesystem::path& path);
Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes);

// For writers that need a stream or a library call taking a path: `write` fills the temp path,
// then it is renamed onto `path`. On failure the temp file is removed and `path` is untouched.
Status write_via_temp(const std::filesystem::path& path,
                      const std::function<Status(const std::filesystem::path& temp)>& write);

// Creates the directory (and parents); error names the path.
Status ensure_directory(const std::filesystem::path& dir);

// Sorted list of regular files under `dir` (recursively) whose extension matches one of `exts`
// (lower-case, with dot, e.g. ".dcm"); an empty list matches every file.
Result<std::vector<std::filesystem::path>> list_files(const std::filesystem::path& dir,
                                                      const std::vector<std::string>& exts,
                                                      bool recursive = true);

// Bytes of a file or an object made in memory (PNG, DICOM, ...).
using Bytes = std::vector<std::uint8_t>;

// write_file_atomic for bytes made in memory.
Status write_file_atomic(const std::filesystem::path& path, const Bytes& bytes);

// PNG I/O for 8-bit grayscale images (OpenCV stays behind this). The file versions are
// encode_png / decode_image_gray plus write_file_atomic / read_file: same bytes, same pixels.
Status write_png(const std::filesystem::path& path, const Image8& img);
Result<Image8> read_png_gray(const std::filesystem::path& path);

// PNG bytes of an 8-bit grey image; kInternal when `img` is empty (a caller bug) or encoding fails.
Result<Bytes> encode_png(const Image8& img);
// A PNG or JPEG (any format OpenCV's imdecode reads) from memory, as 8-bit grey (colour is
// converted to grey as read_png_gray does). kBadInput naming `name_for_errors` when unreadable.
Result<Image8> decode_image_gray(const std::uint8_t* data, std::size_t size, std::string_view name_for_errors);

}  // namespace pneumo
