// Bytes in, an image to predict on out: DICOM, PNG or JPEG from a file or from memory (an HTTP
// body), with what the outputs need later (the DICOM header and the source bytes for SEG/SC).
//
//   auto bytes = pneumo::read_file_bytes("in/x.dcm");                         // Result<Bytes>
//   auto in = pneumo::decode_input(std::move(*bytes), "in/x.dcm", InputFormat::kDicom, "x");
//   in->image; in->image_id; in->meta->pixel_spacing_row_mm; in->source_bytes
//
//   auto format = pneumo::sniff_input_format(body.data(), body.size());     // from the content
//   auto size = pneumo::input_image_size(body.data(), body.size(), *format, "upload");  // no decode
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pneumo/core/files.hpp"
#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/dicom/dicom.hpp"

namespace pneumo {

enum class InputFormat { kDicom, kPng, kJpeg };

const char* input_format_name(InputFormat format);  // "dicom", "png", "jpeg"

// From the leading bytes: PNG signature, JPEG SOI (FF D8 FF), "DICM" at byte 128. nullopt for
// anything else, including a DICOM data set without preamble (the caller may know it is DICOM
// from a file extension or a Content-Type).
std::optional<InputFormat> sniff_input_format(const std::uint8_t* data, std::size_t size);

// The CLI's rule for files: .png/.jpg/.jpeg are plain images, everything else DICOM.
InputFormat input_format_for_path(const std::filesystem::path& path);

struct InputImageSize {
  int rows = 0, cols = 0, frames = 1;
  std::uint64_t pixels() const { return static_cast<std::uint64_t>(rows) * cols * frames; }
};

// Rows x columns (x frames for DICOM) from the header only, without decoding pixels, so a caller
// can refuse an oversized image before allocating it. PNG: IHDR; JPEG: the first SOFn marker;
// DICOM: Rows, Columns, NumberOfFrames. kBadInput naming `name` when the header is unreadable.
Result<InputImageSize> input_image_size(const std::uint8_t* data, std::size_t size, InputFormat format,
                                   std::string_view name);

struct DecodedInput {
  std::string source_name;   // path or upload name, used in messages only
  std::string source_file;   // file name only (PredictionRecord::source_file); "" for uploads
  InputFormat format = InputFormat::kDicom;
  std::optional<DicomMeta> meta;  // DICOM only
  Image8 image;                   // 8-bit grey at the source size
  std::string image_id;           // SOPInstanceUID for DICOM, else fallback_image_id
  std::shared_ptr<const Bytes> source_bytes;  // DICOM only: the whole file, for SEG and SC
};

// Decodes `bytes` as `format`. image_id: the DICOM's SOPInstanceUID, or `fallback_image_id` when
// it has none or the input is PNG/JPEG. Errors name `source_name`: those of read_dicom (kBadInput,
// kUnsupported for JPEG 2000, colour, multi-frame ...), "not a readable PNG/JPEG image" (kBadInput),
// "empty image" (kBadInput).
Result<DecodedInput> decode_input(Bytes bytes, std::string source_name, InputFormat format,
                                  std::string fallback_image_id);

// read_file as Bytes.
Result<Bytes> read_file_bytes(const std::filesystem::path& path);

}  // namespace pneumo
