// Reading chest X-ray DICOMs into 8-bit grayscale, and their metadata (DCMTK stays behind this).
//
//   auto d = pneumo::read_dicom("1.2.276...dcm");
//   if (!d) { std::cerr << d.error().message << "\n"; }  // "x.dcm: not a DICOM file (no DICM ...)"
//   use(d->image, d->meta.sop_instance_uid, d->meta.pixel_spacing_mm);
//
// Pixel pipeline: decode (JPEG baseline/extended, JPEG lossless, JPEG-LS, RLE, deflate,
// uncompressed) -> Modality LUT (Rescale Slope/Intercept) -> VOI window if present, else
// min-max over the image -> 8 bits; MONOCHROME1 is inverted so that air is dark.
// Multi-frame, colour (SamplesPerPixel != 1) and undecodable pixel data are errors.
//
// Thread-safety: read_* and write_dicom may run concurrently on different files; the codec
// registration they need happens once, guarded internally.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo {

struct DicomMeta {
  std::string sop_instance_uid;
  std::string sop_class_uid;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string patient_id;  // identifies a person: never log it; used only to group folds
  std::string sex;         // "M", "F", "O" or "" when missing
  std::optional<double> age_years;  // from PatientAge ("038Y", "6M", "38"); nullopt if invalid
  std::string age_text;    // the raw PatientAge value
  std::string view_position;  // "PA", "AP", "LL", "RL", ... or ""
  std::string modality;       // "CR", "DX", ...
  std::string body_part;      // BodyPartExamined, e.g. "CHEST"
  std::string study_description;
  std::optional<double> pixel_spacing_row_mm;  // PixelSpacing[0], or ImagerPixelSpacing fallback
  std::optional<double> pixel_spacing_col_mm;  // PixelSpacing[1]
  int rows = 0;
  int cols = 0;
  int frames = 1;
  int samples_per_pixel = 1;
  int bits_allocated = 0;
  int bits_stored = 0;
  std::string photometric;          // MONOCHROME1 / MONOCHROME2 / ...
  std::string transfer_syntax_uid;  // of the file as stored
  std::string transfer_syntax_name;
};

struct DicomImage {
  DicomMeta meta;
  Image8 image;  // rows x cols, 0 = black
};

// Header only: stops before the pixel data, so an index of 12k files stays fast.
Result<DicomMeta> read_dicom_meta(const std::filesystem::path& path);

// Header and pixels.
Result<DicomImage> read_dicom(const std::filesystem::path& path);

// "38" -> 38, "038Y" -> 38, "6M" -> 0.5, "2W" -> 2/52.18, "10D" -> 10/365.25; else nullopt.
// Ages above 130 years are treated as invalid (SIIM has a few such typos: 148, 413).
std::optional<double> parse_patient_age(std::string_view text);

// How write_dicom encodes the pixels.
enum class DicomEncoding { kJpegBaseline, kExplicitLittleEndian };

// Writes an 8-bit MONOCHROME2 single-frame image (Digital X-Ray/CR-like "Secondary Capture"-
// compatible header) with the given metadata. UIDs must be filled by the caller (deterministic
// output: no UIDs or dates are invented here). Written atomically (temp file + rename).
// requires: image.rows == meta.rows, image.cols == meta.cols
Status write_dicom(const std::filesystem::path& path, const DicomMeta& meta, const Image8& image,
                   DicomEncoding encoding, int jpeg_quality = 95);

}  // namespace pneumo
