// decode_input and friends: format sniffing, header-only sizes, DICOM/PNG/JPEG from bytes.
#include "pneumo/infer/image_input.hpp"


#include <cerrno>
#include <cstring>
#include <utility>

#include "pneumo/core/strings.hpp"

namespace pneumo {
namespace {

constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

std::uint32_t big_endian32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
int big_endian16(const std::uint8_t* p) { return (int{p[0]} << 8) | p[1]; }

Result<ImageSize> png_size(const std::uint8_t* data, std::size_t size, const std::string& name) {
  // Signature, then the IHDR chunk: length (4), "IHDR", width (4), height (4).
  if (size < 24 || std::memcmp(data, kPngSignature, 8) != 0 || std::memcmp(data + 12, "IHDR", 4) != 0) {
    return fail(ErrorCode::kBadInput, name + ": not a readable PNG/JPEG image (no PNG IHDR header)");
  }
  const std::uint32_t width = big_endian32(data + 16), height = big_endian32(data + 20);
  if (width == 0 || height == 0 || width > 0x7fffffffu || height > 0x7fffffffu) {
    return fail(ErrorCode::kBadInput, name + ": PNG header gives a size of " + std::to_string(width) + "x" +
                                          std::to_string(height));
  }
  return ImageSize{static_cast<int>(height), static_cast<int>(width), 1};
}

Result<ImageSize> jpeg_size(const std::uint8_t* data, std::size_t size, const std::string& name) {
  auto bad = [&](const std::string& why) { return fail(ErrorCode::kBadInput, name + ": not a readable PNG/JPEG image (" + why + ")"); };
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) return bad("no JPEG start-of-image marker");
  std::size_t i = 2;
  while (i + 1 < size) {
    if (data[i] != 0xFF) return bad("JPEG marker expected at byte " + std::to_string(i));
    while (i < size && data[i] == 0xFF) ++i;  // fill bytes
    if (i >= size) break;
    const std::uint8_t marker = data[i++];
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
    if (marker == 0xD9 || marker == 0xDA) return bad("no JPEG frame header before the scan");
    if (i + 2 > size) break;
    const int length = big_endian16(data + i);
    if (length < 2) return bad("JPEG segment length " + std::to_string(length));
    const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 7 > size) break;
      const int rows = big_endian16(data + i + 3), cols = big_endian16(data + i + 5);
      if (rows == 0 || cols == 0) return bad("JPEG frame header gives a size of " + std::to_string(cols) + "x" + std::to_string(rows));
      return ImageSize{rows, cols, 1};
    }
    i += static_cast<std::size_t>(length);
  }
  return bad("truncated JPEG header");
}

Result<DicomMeta> read_dicom_meta_bytes(const std::uint8_t* data, std::size_t size, const std::string& name) {
  return read_dicom_meta_from_memory(data, size, name);
}

Result<DicomImage> read_dicom_bytes(const std::uint8_t* data, std::size_t size, const std::string& name) {
  return read_dicom_from_memory(data, size, name);
}

}  // namespace

const char* input_format_name(InputFormat format) {
  switch (format) {
    case InputFormat::kDicom: return "dicom";
    case InputFormat::kPng: return "png";
    case InputFormat::kJpeg: return "jpeg";
  }
  return "dicom";
}

std::optional<InputFormat> sniff_input_format(const std::uint8_t* data, std::size_t size) {
  if (data == nullptr) return std::nullopt;
  if (size >= 8 && std::memcmp(data, kPngSignature, 8) == 0) return InputFormat::kPng;
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return InputFormat::kJpeg;
  if (size >= 132 && std::memcmp(data + 128, "DICM", 4) == 0) return InputFormat::kDicom;
  return std::nullopt;
}

InputFormat input_format_for_path(const std::filesystem::path& path) {
  const std::string ext = to_lower(path.extension().string());
  if (ext == ".png") return InputFormat::kPng;
  if (ext == ".jpg" || ext == ".jpeg") return InputFormat::kJpeg;
  return InputFormat::kDicom;
}

Result<ImageSize> input_image_size(const std::uint8_t* data, std::size_t size, InputFormat format,
                                   std::string_view name) {
  const std::string where(name);
  if (data == nullptr || size == 0) return fail(ErrorCode::kBadInput, where + ": empty input (0 bytes)");
  switch (format) {
    case InputFormat::kPng: return png_size(data, size, where);
    case InputFormat::kJpeg: return jpeg_size(data, size, where);
    case InputFormat::kDicom: {
      auto meta = read_dicom_meta_bytes(data, size, where);
      if (!meta) return meta.error();
      return ImageSize{meta->rows, meta->cols, std::max(1, meta->frames)};
    }
  }
  return fail(ErrorCode::kInternal, where + ": unknown input format");
}

Result<DecodedInput> decode_input(Bytes bytes, std::string source_name, InputFormat format,
                                  std::string fallback_image_id) {
  DecodedInput in;
  in.format = format;
  in.source_name = std::move(source_name);
  if (format == InputFormat::kDicom) {
    auto d = read_dicom_bytes(bytes.data(), bytes.size(), in.source_name);
    if (!d) return d.error();
    in.meta = std::move(d->meta);
    in.image = std::move(d->image);
    in.image_id = in.meta->sop_instance_uid.empty() ? std::move(fallback_image_id) : in.meta->sop_instance_uid;
    in.source_bytes = std::make_shared<const Bytes>(std::move(bytes));
  } else {
    auto img = decode_image_gray(bytes.data(), bytes.size(), in.source_name);
    if (!img) return img.error();
    in.image = std::move(img.value());
    in.image_id = std::move(fallback_image_id);
  }
  if (in.image.empty()) return fail(ErrorCode::kBadInput, in.source_name + ": empty image");
  return in;
}

Result<Bytes> read_file_bytes(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  return Bytes(text->begin(), text->end());
}

}  // namespace pneumo
