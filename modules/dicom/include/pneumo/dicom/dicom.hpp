// Reading chest X-ray DICOMs into 8-bit grayscale, and their metadata (DCMTK stays behind this).
//
//   auto d = pneumo::read_dicom("1.2.276...dcm");
//   if (!d) { std::cerr << d.error().message << "\n"; }  // "x.dcm: not a DICOM file (no DICM ...)"
//   use(d->image, d->meta.sop_instance_uid, d->meta.pixel_spacing_mm);
//
//   auto small = pneumo::read_dicom_resized("1.2.276...dcm", /*target_rows=*/512, /*target_cols=*/512);
//   // small->image is 512x512; small->meta.rows/cols still describe the file (1024x1024)
//
//   // Bytes from the network (no temp file); the name only labels error messages:
//   auto up = pneumo::read_dicom_from_memory(body.data(), body.size(), "upload 3 (request 1f2e)");
//
// Pixel pipeline: decode (JPEG baseline/extended, JPEG lossless, JPEG-LS, RLE, deflate,
// uncompressed), then to 8 bits:
//  - 8 bits stored and allocated, unsigned, no Rescale Slope/Intercept, VOI window or LUT (every
//    SIIM file): the stored values are kept as they are (no stretch), inverted (255 - v) for
//    MONOCHROME1 so that air is dark;
//  - anything else (10/12/16-bit, rescale, window or LUT): Modality LUT (Rescale Slope/Intercept)
//    -> the file's first VOI window, else its first VOI LUT, else min-max over the image ->
//    8 bits; MONOCHROME1 inverted.
// Multi-frame, colour (SamplesPerPixel != 1) and undecodable pixel data are errors.
//
// Untrusted input: nothing is allocated from the header before it is checked. Rows, Columns,
// BitsAllocated, SamplesPerPixel and NumberOfFrames are validated first; Rows x Columns must stay
// within DicomReadLimits (default 16384 per side and 64 Mpx: every real radiograph fits, the
// largest detectors are about 4300 x 4300 = 18 Mpx); and the pixel data must be able to fill the
// image: uncompressed data must hold rows*cols*bytes (and the file must hold what PixelData
// declares), a JPEG / JPEG-LS frame header (SOF) must give the same size as Rows/Columns before
// anything is decoded, and RLE data cannot expand more than 64:1. A 131 KB file claiming 65535 x
// 65535 pixels is an error, not a 4 GB allocation.
//
// Thread-safety: read_* and write_dicom may run concurrently on different files; the codec
// registration they need happens once, guarded internally.
#pragma once

#include <cstddef>
#include <cstdint>
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
  Image8 image;  // meta.rows x meta.cols (read_dicom) or the target size (read_dicom_resized); 0 = black
};

// Bounds on what a reader decodes (read_dicom*; the meta-only readers decode nothing).
// Exceeding them is ErrorCode::kUnsupported, naming the attribute and the limit.
struct DicomReadLimits {
  int max_side = 16384;                      // Rows and Columns each
  std::int64_t max_pixels = 64LL * 1024 * 1024;  // Rows * Columns (64 Mpx = 64 MB of Image8)
};

// Header only: stops before the pixel data, so an index of 12k files stays fast.
Result<DicomMeta> read_dicom_meta(const std::filesystem::path& path);

// Header and pixels.
Result<DicomImage> read_dicom(const std::filesystem::path& path, const DicomReadLimits& limits = {});

// Header and pixels, already resized to target_rows x target_cols: what the preprocessing cache
// stores. Faster than read_dicom + resize for JPEG baseline/extended 8-bit files (all of SIIM):
// libjpeg-turbo decodes at 1/2, 1/4 or 1/8 in the DCT domain (the largest reduction that divides
// Rows and Columns and keeps both >= the target: 1/2 for 1024 -> 512 and 1024 -> 384, 1/4 for
// 1024 -> 256), then an area resize (OpenCV INTER_AREA) brings it to the exact target. That
// output is close to, not identical with, read_dicom + area resize. On the 47 SIIM files: at 512
// and 256 mean absolute difference 0.14 / 0.06 grey levels, at most 5; at 384 (two resampling
// steps) mean 0.36, up to ~50 at a few burned-in letters and collimator edges, the same as
// area-resizing to 512 and then to 384 without any DCT scaling.
// Every other file is decoded in full and resized exactly as transforms' resize_image does it
// (INTER_AREA when shrinking on both axes, else bilinear), so it equals read_dicom + resize_image.
// meta describes the file as stored (meta.rows/cols are the source size).
// Errors: those of read_dicom; kInvalidArgument when target_rows or target_cols is not positive.
Result<DicomImage> read_dicom_resized(const std::filesystem::path& path, int target_rows, int target_cols,
                                      const DicomReadLimits& limits = {});

// The same three readers over a DICOM file held in memory (a Part 10 file with or without the
// 128-byte preamble, or a bare data set), e.g. an HTTP request body; `name_for_errors` replaces
// the file name in messages ("upload.dcm: Rows (0028,0010) is 65535 ..."). Same results and
// errors as the file versions, except kNotFound/kIo (there is no file). `data` is only read
// during the call and may be freed afterwards. data may be null when size is 0.
Result<DicomMeta> read_dicom_meta_from_memory(const std::uint8_t* data, std::size_t size,
                                              std::string_view name_for_errors);
Result<DicomImage> read_dicom_from_memory(const std::uint8_t* data, std::size_t size,
                                          std::string_view name_for_errors, const DicomReadLimits& limits = {});
Result<DicomImage> read_dicom_resized_from_memory(const std::uint8_t* data, std::size_t size,
                                                  std::string_view name_for_errors, int target_rows,
                                                  int target_cols, const DicomReadLimits& limits = {});
// Overloads for bytes held in a std::string / std::string_view (e.g. cpp-httplib's req.body).
Result<DicomMeta> read_dicom_meta_from_memory(std::string_view bytes, std::string_view name_for_errors);
Result<DicomImage> read_dicom_from_memory(std::string_view bytes, std::string_view name_for_errors,
                                          const DicomReadLimits& limits = {});

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
