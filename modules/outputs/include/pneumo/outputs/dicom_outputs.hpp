// DICOM results that a PACS can store next to the source image: a Segmentation (SEG) of the
// predicted pneumothorax and a Secondary Capture (SC) of the overlay. DCMTK stays behind this.
//
//   pneumo::SegOptions seg;
//   auto st = pneumo::write_dicom_seg("seg/x.dcm", "in/x.dcm", mask, seg);
//   Result<Mask> back = pneumo::read_dicom_seg_mask("seg/x.dcm");
//   auto st2 = pneumo::write_secondary_capture("sc/x.dcm", "in/x.dcm", overlay_rgb, {});
//   Result<ImageRgb> pixels = pneumo::read_secondary_capture("sc/x.dcm");
//   // In memory (a service): the source file's bytes in, the object's bytes out.
//   Result<Bytes> seg_bytes = pneumo::encode_dicom_seg(src.data(), src.size(), "upload", mask, seg);
//
// Both outputs:
// - join the source's study (same StudyInstanceUID) in a new series, copy the Patient and study
//   attributes (names, IDs, dates; invalid values such as SIIM's PatientAge "38" are normalised
//   ("038Y") or dropped so the output validates) and never log them;
// - get deterministic UIDs: 2.25.<decimal of a 128-bit hash> of the source SOPInstanceUID (or of
//   the source StudyInstanceUID for series) and the output kind, so re-running gives the same UIDs
//   and a re-sent object replaces the old one instead of duplicating it;
// - when the source has no usable StudyInstanceUID (SIIM stage-2 test files "ID_..." have none),
//   use 2.25.hash("study" + source SOPInstanceUID), the same for SEG and SC of one image (a
//   source without any SOPInstanceUID is identified by its file stem instead);
// - reference the source image (SEG: Derivation Image Sequence + Referenced Series Sequence; SC:
//   Source Image Sequence). When its SOPInstanceUID is not a valid UID (ID_ files) the reference
//   uses 2.25.hash("pneumo/source/" + it) in series 2.25.hash("pneumo/source-series/" + it) (DCMTK
//   requires a derivation reference or a Frame of Reference in a SEG), and the original identifier
//   is named in ContentDescription (SEG) / DerivationDescription (SC). A source without a valid
//   SOPClassUID is an error (kBadInput);
// - carry Content Date/Time: options.content_date_time ("YYYYMMDDHHMMSS") when given, else the
//   current local time (as DICOM creators do). Everything else depends only on the inputs.
// - LossyImageCompression "01" when the source was lossy compressed (SIIM is JPEG baseline).
// SEG: binary, one frame, one segment "Pneumothorax" (category SCT 49755003 "Morphologically
// Altered Structure", type SCT 36118008 "Pneumothorax"), algorithm AUTOMATIC "pneumo" with its
// version, Pixel Measures from the source's PixelSpacing. No Frame of Reference: chest radiographs
// (CR/DX) have none; sources with one are not given plane position/orientation.
// SC: SC Image Storage, RGB 8-bit, PlanarConfiguration 0, ConversionType WSD, BurnedInAnnotation
// YES, ImageType DERIVED\SECONDARY, DerivationDescription.
// Written atomically, explicit VR little endian. Both validate with dciodvfy (dicom3tools).
// The file writers read the source file and call the encode_* functions, so a file holds exactly
// the bytes encode_* returns for the same inputs.
//
// Thread-safety: functions may run concurrently on different files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "pneumo/core/files.hpp"  // Bytes
#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/outputs/overlay.hpp"

namespace pneumo {

struct SegOptions {
  std::string software_version = "0";       // written as SoftwareVersions and AlgorithmVersion
  std::string series_description = "pneumo pneumothorax segmentation";
  int series_number = 9101;
  std::optional<std::string> content_date_time;  // "YYYYMMDDHHMMSS"; nullopt = now
};

struct ScOptions {
  std::string software_version = "0";
  std::string series_description = "pneumo pneumothorax overlay";
  int series_number = 9102;
  std::string derivation_description =
      "pneumo: predicted pneumothorax (red), caption burned in; not for primary diagnosis";
  std::optional<std::string> content_date_time;
};

// requires (checked, kInvalidArgument): mask size == the source's Rows x Columns.
// Errors: the source missing (kNotFound) or not DICOM (kBadInput), write failure (kIo).
Status write_dicom_seg(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                       const Mask& mask_at_source_size, const SegOptions& options);

// The SEG as a DICOM file in memory. `source_dicom` holds the whole source file (what read_file
// returns); `source_name` names it in messages and its stem identifies a source without
// SOPInstanceUID. Errors as write_dicom_seg, kBadInput when the bytes are not DICOM.
Result<Bytes> encode_dicom_seg(const std::uint8_t* source_dicom, std::size_t source_size, std::string_view source_name,
                               const Mask& mask_at_source_size, const SegOptions& options);

// The union of the segment frames as a 0/1 mask. kBadInput when the file is not a binary SEG.
Result<Mask> read_dicom_seg_mask(const std::filesystem::path& path);

// requires: overlay non-empty (any size; PixelSpacing is copied only at the source's size).
Status write_secondary_capture(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                               const ImageRgb& overlay, const ScOptions& options);

// The SC as a DICOM file in memory; source arguments as encode_dicom_seg.
Result<Bytes> encode_secondary_capture(const std::uint8_t* source_dicom, std::size_t source_size,
                                       std::string_view source_name, const ImageRgb& overlay,
                                       const ScOptions& options);

// Pixels of an 8-bit RGB Secondary Capture (PlanarConfiguration 0 or 1).
Result<ImageRgb> read_secondary_capture(const std::filesystem::path& path);

// A DICOM UID "2.25.<decimal>" from a 128-bit hash (FNV-1a 128) of `text`: deterministic, at most
// 44 characters. Not cryptographic; collisions between distinct texts are negligible in practice.
std::string uid_from_text(std::string_view text);

// 1..64 characters, digits and dots, no empty component, no leading zero in a component.
// (Defined with the other VR rules in the dicom module, pneumo/dicom/vr.hpp.)
bool is_valid_uid(std::string_view uid);

}  // namespace pneumo
