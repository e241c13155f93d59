#include "pneumo/core/image_files.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>

#include "pneumo/core/strings.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

// JPEG headers rarely exceed a few KB, but EXIF thumbnails and ICC profiles can push the SOF
// marker out to ~64 KB per APPn segment; a few of them fit in 256 KB.
constexpr std::size_t kHeaderBytes = 256 << 10;

Result<ImageSize> png_size(const unsigned char* d, std::size_t n, const std::string& name) {
  // 8-byte signature, then the IHDR chunk: length(4) "IHDR"(4) width(4) height(4) depth(1) colour(1).
  if (n < 26 || std::string_view(reinterpret_cast<const char*>(d + 12), 4) != "IHDR") {
    return fail(ErrorCode::kBadInput, name + ": truncated PNG header (no IHDR chunk)");
  }
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t(d[at]) << 24) | (std::uint32_t(d[at + 1]) << 16) | (std::uint32_t(d[at + 2]) << 8) | d[at + 3];
  };
  const std::uint32_t width = be32(16), height = be32(20);
  if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu) {
    return fail(ErrorCode::kBadInput, name + ": PNG header gives an invalid size " + std::to_string(width) + "x" +
                                          std::to_string(height));
  }
  static constexpr std::array<int, 7> kChannelsOfColourType{1, 0, 3, 1, 2, 0, 4};
  const int colour_type = d[25];
  const int channels = colour_type < 7 ? kChannelsOfColourType[colour_type] : 0;
  if (channels == 0) return fail(ErrorCode::kBadInput, name + ": PNG header has an invalid colour type");
  return ImageSize{static_cast<int>(height), static_cast<int>(width), channels == 2 ? 1 : channels};
}

Result<ImageSize> jpeg_size(const unsigned char* d, std::size_t n, const std::string& name) {
  std::size_t at = 2;  // after SOI
  while (at + 4 <= n) {
    if (d[at] != 0xFF) return fail(ErrorCode::kBadInput, name + ": corrupt JPEG header (marker expected at byte " + std::to_string(at) + ")");
    const unsigned char marker = d[at + 1];
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {  // no length field
      at += 2;
      continue;
    }
    const std::size_t length = (std::size_t(d[at + 2]) << 8) | d[at + 3];
    if (length < 2) return fail(ErrorCode::kBadInput, name + ": corrupt JPEG header (segment length " + std::to_string(length) + ")");
    const bool is_sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_sof) {
      if (at + 10 > n) break;
      const int height = (d[at + 5] << 8) | d[at + 6];
      const int width = (d[at + 7] << 8) | d[at + 8];
      const int channels = d[at + 9];
      if (width == 0 || height == 0 || channels == 0) {
        return fail(ErrorCode::kBadInput, name + ": JPEG frame header gives an invalid size " + std::to_string(width) +
                                              "x" + std::to_string(height));
      }
      return ImageSize{height, width, channels};
    }
    if (marker == 0xD9 || marker == 0xDA) break;  // end of image / scan before any frame header
    at += 2 + length;
  }
  return fail(ErrorCode::kBadInput, name + ": truncated JPEG header (no frame header found)");
}

}  // namespace

bool is_plain_image_file(const fs::path& path) {
  const std::string ext = to_lower(path.extension().string());
  const auto& exts = plain_image_extensions();
  return std::find(exts.begin(), exts.end(), ext) != exts.end();
}

const std::vector<std::string>& plain_image_extensions() {
  static const std::vector<std::string> kExtensions{".png", ".jpg", ".jpeg"};
  return kExtensions;
}

Result<ImageSize> read_image_size(const unsigned char* data, std::size_t size, const std::string& name) {
  static constexpr unsigned char kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size >= 8 && std::equal(kPngSignature, kPngSignature + 8, data)) return png_size(data, size, name);
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return jpeg_size(data, size, name);
  return fail(ErrorCode::kBadInput, name + ": not a PNG or JPEG file (unknown signature)");
}

Result<ImageSize> read_image_size(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kNotFound, path.string() + ": cannot open");
  std::vector<unsigned char> head(kHeaderBytes);
  in.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  return read_image_size(head.data(), head.size(), path.string());
}

}  // namespace pneumo
