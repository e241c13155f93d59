// decode_input and friends: format sniffing, header-only sizes, DICOM/PNG/JPEG from bytes.
#include "pneumo/infer/image_input.hpp"


#include <cerrno>
#include <cstring>
#include <utility>

#include "pneumo/core/image_files.hpp"
#include "pneumo/core/strings.hpp"

namespace pneumo {
namespace {

constexpr std::uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

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

Result<InputImageSize> input_image_size(const std::uint8_t* data, std::size_t size, InputFormat format,
                                   std::string_view name) {
  const std::string where(name);
  if (data == nullptr || size == 0) return fail(ErrorCode::kBadInput, where + ": empty input (0 bytes)");
  switch (format) {
    case InputFormat::kPng:
    case InputFormat::kJpeg: {
      auto header = read_image_size(data, size, where);  // the same header parser index uses
      if (!header) return header.error();
      return InputImageSize{header->rows, header->cols, 1};
    }
    case InputFormat::kDicom: {
      auto meta = read_dicom_meta_bytes(data, size, where);
      if (!meta) return meta.error();
      return InputImageSize{meta->rows, meta->cols, std::max(1, meta->frames)};
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
