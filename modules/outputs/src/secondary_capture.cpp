// write_secondary_capture / read_secondary_capture: the overlay as an RGB SC image in the
// source's study (plain DcmDataset; no IOD helper class exists for SC in DCMTK).
#include <dcmtk/config/osconfig.h>  // must come first

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <string>

#include "dicom_source.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/dicom/vr.hpp"
#include "pneumo/dicom/vr_dcmtk.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"

namespace pneumo {
namespace {

using detail::error_text;
using detail::put_string;

constexpr const char* kSecondaryCaptureStorage = "1.2.840.10008.5.1.4.1.1.7";

}  // namespace

Result<Bytes> encode_secondary_capture(const std::uint8_t* source_dicom, std::size_t source_size,
                                       std::string_view source_name, const ImageRgb& overlay,
                                       const ScOptions& options) {
  const std::string where = std::filesystem::path(std::string(source_name)).filename().string() + " SC: ";
  if (overlay.empty() || overlay.rows > 65535 || overlay.cols > 65535 ||
      overlay.px.size() != static_cast<std::size_t>(overlay.rows) * overlay.cols * 3) {
    return fail(ErrorCode::kInvalidArgument, where + "overlay must be non-empty RGB, rows*cols*3 bytes");
  }
  auto source = detail::load_source(source_dicom, source_size, source_name);
  if (!source) return source.error();
  const detail::SourceImage& src = source.value();
  const std::string version = options.software_version.empty() ? "0" : options.software_version;

  DcmFileFormat out;
  DcmDataset& ds = *out.getDataset();
  detail::copy_patient_and_study(*src.file->getDataset(), ds, src.study_uid);
  if (auto st = detail::put_content_date_time(ds, options.content_date_time, where); !st) return st.error();

  std::string derivation = options.derivation_description;
  if (src.uids_derived) derivation += " (source image " + src.sop_instance_uid + ")";
  derivation = truncate_to_vr("ST", derivation);  // ST holds at most 1024 characters

  const std::pair<DcmTagKey, std::string> strings[] = {
      {DCM_ImageType, "DERIVED\\SECONDARY"},
      {DCM_SOPClassUID, kSecondaryCaptureStorage},
      {DCM_SOPInstanceUID, uid_from_text("pneumo/sc/" + src.sop_instance_uid)},
      {DCM_Modality, "OT"},
      {DCM_ConversionType, "WSD"},
      {DCM_Manufacturer, "pneumo"},
      {DCM_SeriesDescription, truncate_to_vr("LO", options.series_description)},
      {DCM_ManufacturerModelName, "pneumo"},
      {DCM_DerivationDescription, derivation},
      {DCM_SecondaryCaptureDeviceManufacturer, "pneumo"},
      {DCM_SecondaryCaptureDeviceManufacturerModelName, "pneumo"},
      {DCM_SecondaryCaptureDeviceSoftwareVersions, truncate_to_vr("LO", version)},
      {DCM_SoftwareVersions, truncate_to_vr("LO", version)},
      {DCM_SeriesInstanceUID, uid_from_text("pneumo/sc-series/" + src.study_uid)},
      {DCM_SeriesNumber, std::to_string(options.series_number)},
      {DCM_InstanceNumber, "1"},
      {DCM_PatientOrientation, ""},
      {DCM_Laterality, ""},  // type 2C in General Series; a chest is not a paired structure
      {DCM_BurnedInAnnotation, "YES"},
      {DCM_PhotometricInterpretation, "RGB"},
  };
  for (const auto& [tag, value] : strings) {
    if (auto st = put_string(ds, tag, value, where); !st) return st.error();
  }
  {
    DcmItem* item = nullptr;
    if (ds.findOrCreateSequenceItem(DCM_SourceImageSequence, item, 0).good()) {
      item->putAndInsertString(DCM_ReferencedSOPClassUID, src.sop_class_uid.c_str());
      item->putAndInsertString(DCM_ReferencedSOPInstanceUID, src.reference_sop_uid.c_str());
      DcmItem* purpose = nullptr;
      if (item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, 0).good()) {
        purpose->putAndInsertString(DCM_CodeValue, "121322");
        purpose->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
        purpose->putAndInsertString(DCM_CodeMeaning, "Source image for image processing operation");
      }
    }
  }
  if (!src.pixel_spacing.empty() && overlay.rows == src.rows && overlay.cols == src.cols) {
    if (auto st = put_string(ds, DCM_PixelSpacing, src.pixel_spacing, where); !st) return st.error();
  }
  if (src.lossy) {
    // The overlay carries the source's lossy pixels, whatever our own encoding.
    if (auto st = put_string(ds, DCM_LossyImageCompression, "01", where); !st) return st.error();
    if (!src.lossy_method.empty()) {
      if (auto st = put_string(ds, DCM_LossyImageCompressionMethod, src.lossy_method, where); !st) return st.error();
    }
    if (!src.lossy_ratio.empty()) {
      if (auto st = put_string(ds, DCM_LossyImageCompressionRatio, src.lossy_ratio, where); !st) return st.error();
    }
  }
  const std::pair<DcmTagKey, Uint16> numbers[] = {
      {DCM_SamplesPerPixel, 3},
      {DCM_Rows, static_cast<Uint16>(overlay.rows)},
      {DCM_Columns, static_cast<Uint16>(overlay.cols)},
      {DCM_BitsAllocated, 8},
      {DCM_BitsStored, 8},
      {DCM_HighBit, 7},
      {DCM_PixelRepresentation, 0},
      {DCM_PlanarConfiguration, 0}};
  for (const auto& [tag, value] : numbers) {
    OFCondition cond = ds.putAndInsertUint16(tag, value);
    if (cond.bad()) return fail(ErrorCode::kInternal, where + "cannot set " + DcmTag(tag).getTagName());
  }
  OFCondition cond =
      ds.putAndInsertUint8Array(DCM_PixelData, overlay.px.data(), static_cast<unsigned long>(overlay.px.size()));
  if (cond.bad()) return fail(ErrorCode::kInternal, where + "cannot set PixelData: " + error_text(cond));

  // Every text value against its VR's rules: anything invalid here is pneumo's bug.
  if (auto st = check_dataset_values(ds, where.substr(0, where.size() - 2)); !st) {
    return fail(ErrorCode::kInternal, st.error().message);
  }
  return detail::save_to_bytes(out, EXS_LittleEndianExplicit, EPD_withoutPadding, where);
}

Status write_secondary_capture(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                               const ImageRgb& overlay, const ScOptions& options) {
  return detail::write_from_source_file(path, source_dicom, [&](const Bytes& source) {
    return encode_secondary_capture(source.data(), source.size(), source_dicom.string(), overlay, options);
  });
}

Result<ImageRgb> read_secondary_capture(const std::filesystem::path& path) {
  detail::quiet_dcmtk_once();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return fail(ErrorCode::kNotFound, path.string() + ": does not exist");
  DcmFileFormat file;
  OFCondition cond = file.loadFile(OFFilename(path.c_str()));
  if (cond.bad()) return fail(ErrorCode::kBadInput, path.string() + ": not a readable DICOM file: " + error_text(cond));
  DcmDataset& ds = *file.getDataset();
  if (!ds.getOriginalXfer() || DcmXfer(ds.getOriginalXfer()).isEncapsulated()) {
    return fail(ErrorCode::kUnsupported, path.string() + ": compressed pixel data; expected uncompressed RGB");
  }
  Uint16 spp = 0, rows = 0, cols = 0, bits = 0, planar = 0;
  OFString photometric;
  ds.findAndGetUint16(DCM_SamplesPerPixel, spp);
  ds.findAndGetUint16(DCM_Rows, rows);
  ds.findAndGetUint16(DCM_Columns, cols);
  ds.findAndGetUint16(DCM_BitsAllocated, bits);
  ds.findAndGetUint16(DCM_PlanarConfiguration, planar);
  ds.findAndGetOFString(DCM_PhotometricInterpretation, photometric);
  if (spp != 3 || bits != 8 || photometric != "RGB" || rows == 0 || cols == 0) {
    return fail(ErrorCode::kUnsupported, path.string() + ": expected 8-bit RGB (SamplesPerPixel 3), got SamplesPerPixel " +
                                             std::to_string(spp) + ", BitsAllocated " + std::to_string(bits) +
                                             ", PhotometricInterpretation '" + std::string(photometric.c_str()) + "'");
  }
  const Uint8* data = nullptr;
  unsigned long count = 0;
  cond = ds.findAndGetUint8Array(DCM_PixelData, data, &count);
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  if (cond.bad() || data == nullptr || count < n * 3) {
    return fail(ErrorCode::kBadInput, path.string() + ": PixelData missing or shorter than rows*cols*3");
  }
  ImageRgb out(rows, cols);
  if (planar == 0) {
    std::copy(data, data + n * 3, out.px.begin());
  } else {  // R plane, G plane, B plane
    for (std::size_t i = 0; i < n; ++i) {
      for (int ch = 0; ch < 3; ++ch) out.px[3 * i + ch] = data[ch * n + i];
    }
  }
  return out;
}

}  // namespace pneumo
