// write_dicom: an 8-bit MONOCHROME2 single-frame Secondary Capture-style file, laid out like the
// SIIM-ACR challenge files (same SOP class, same type-2 attributes), JPEG baseline or uncompressed.
//
// Determinism: the output depends only on the arguments. Nothing time-based is written (no
// InstanceCreationDate/Time), the JPEG encoder is registered with EUC_never so that lossy
// compression keeps the caller's SOPInstanceUID instead of minting a random one, and the meta
// header is rebuilt from the data set (its only other UID is DCMTK's fixed implementation UID).
#include <dcmtk/config/osconfig.h>  // must come first

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrploss.h>

#include <cmath>
#include <cstdio>
#include <mutex>
#include <string>

#include "pneumo/core/files.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/dicom/vr.hpp"
#include "pneumo/dicom/vr_dcmtk.hpp"

namespace pneumo {
namespace {

constexpr const char* kSecondaryCaptureSopClass = "1.2.840.10008.5.1.4.1.1.7";

void register_jpeg_encoder_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // EUC_never: keep the caller's SOPInstanceUID after lossy compression (deterministic output).
    // usePixelValues off: by default DCMTK stretches [min, max] of the actual pixels to the full
    // 8-bit range before compressing, which would change every grey value of our images.
    DJEncoderRegistration::registerCodecs(
        ECC_lossyYCbCr, EUC_never, /*pOptimizeHuffman=*/OFFalse, /*pSmoothingFactor=*/0,
        /*pForcedBitDepth=*/0, /*pFragmentSize=*/0, /*pCreateOffsetTable=*/OFTrue, ESS_422,
        /*pWriteYBR422=*/OFTrue, /*pConvertToSC=*/OFFalse, /*pWindowType=*/0,
        /*pWindowParameter=*/0, /*pVoiCenter=*/0.0, /*pVoiWidth=*/0.0, /*pRoiLeft=*/0,
        /*pRoiTop=*/0, /*pRoiWidth=*/0, /*pRoiHeight=*/0, /*pUsePixelValues=*/OFFalse);
  });
}

// PatientAge (AS): "038Y"; under two years as months "018M"; empty when unknown or out of range.
// A given text is kept as it is: `pneumo synth` reproduces SIIM's bare years ("38") on purpose,
// so that readers meet them in tests (the SEG/SC writers normalise ages they copy).
std::string format_patient_age(const DicomMeta& meta) {
  if (!meta.age_text.empty()) return meta.age_text;
  if (!meta.age_years || !std::isfinite(*meta.age_years) || *meta.age_years < 0 ||
      *meta.age_years > 999) {
    return "";
  }
  char buf[8];
  double years = *meta.age_years;
  if (years < 2.0) {
    std::snprintf(buf, sizeof buf, "%03dM", static_cast<int>(std::floor(years * 12.0)));
  } else {
    std::snprintf(buf, sizeof buf, "%03dY", static_cast<int>(std::floor(years)));
  }
  return buf;
}

Status check_inputs(const std::filesystem::path& path, const DicomMeta& meta, const Image8& image,
                    DicomEncoding encoding, int jpeg_quality) {
  const std::string where = path.filename().string() + ": ";
  if (image.rows <= 0 || image.cols <= 0 || image.rows > 65535 || image.cols > 65535 ||
      image.px.size() != static_cast<std::size_t>(image.rows) * image.cols) {
    return fail(ErrorCode::kInvalidArgument,
                where + "image must be 1..65535 pixels on each side with rows*cols bytes, got " +
                    std::to_string(image.rows) + "x" + std::to_string(image.cols) + " with " +
                    std::to_string(image.px.size()) + " bytes");
  }
  if (meta.rows != image.rows || meta.cols != image.cols) {
    return fail(ErrorCode::kInvalidArgument,
                where + "meta says " + std::to_string(meta.rows) + "x" + std::to_string(meta.cols) +
                    " but the image is " + std::to_string(image.rows) + "x" +
                    std::to_string(image.cols));
  }
  const std::pair<const char*, const std::string*> uids[] = {
      {"SOPInstanceUID", &meta.sop_instance_uid},
      {"StudyInstanceUID", &meta.study_instance_uid},
      {"SeriesInstanceUID", &meta.series_instance_uid}};
  for (const auto& [name, uid] : uids) {
    if (!is_valid_uid(*uid)) {
      return fail(ErrorCode::kInvalidArgument,
                  where + name + " must be a DICOM UID (digits and dots, at most 64 characters), got '" +
                      *uid + "'");
    }
  }
  if (!meta.sop_class_uid.empty() && !is_valid_uid(meta.sop_class_uid)) {
    return fail(ErrorCode::kInvalidArgument,
                where + "SOPClassUID must be a DICOM UID, got '" + meta.sop_class_uid + "'");
  }
  if (encoding == DicomEncoding::kJpegBaseline && (jpeg_quality < 1 || jpeg_quality > 100)) {
    return fail(ErrorCode::kInvalidArgument,
                where + "JPEG quality must be 1..100, got " + std::to_string(jpeg_quality));
  }
  return ok_status();
}

Status put_string(DcmDataset& ds, const DcmTagKey& tag, const std::string& value,
                  const std::string& where) {
  OFCondition cond = ds.putAndInsertString(tag, value.c_str());
  if (cond.bad()) {
    return fail(ErrorCode::kInvalidArgument, where + "cannot set " + DcmTag(tag).getTagName() +
                                                 " to '" + value + "': " + cond.text());
  }
  return ok_status();
}

Status put_u16(DcmDataset& ds, const DcmTagKey& tag, int value, const std::string& where) {
  OFCondition cond = ds.putAndInsertUint16(tag, static_cast<Uint16>(value));
  if (cond.bad()) {
    return fail(ErrorCode::kInternal,
                where + "cannot set " + DcmTag(tag).getTagName() + ": " + cond.text());
  }
  return ok_status();
}

// "x.dcm: " -> "x.dcm"
std::string path_name(const std::string& where) { return where.substr(0, where.size() - 2); }

Status fill_dataset(DcmDataset& ds, const DicomMeta& meta, const Image8& image,
                    const std::string& where) {
  const std::string sop_class =
      meta.sop_class_uid.empty() ? std::string(kSecondaryCaptureSopClass) : meta.sop_class_uid;
  std::string series_description =
      meta.view_position.empty() ? std::string() : "view: " + meta.view_position;
  std::string pixel_spacing;
  if (meta.pixel_spacing_row_mm && meta.pixel_spacing_col_mm) {
    const auto row = format_decimal_string(*meta.pixel_spacing_row_mm);
    const auto col = format_decimal_string(*meta.pixel_spacing_col_mm);
    if (row && col) pixel_spacing = *row + "\\" + *col;  // DS: "0.143", never "0.14300000000000002"
  }

  // The attribute list of the SIIM files, in tag order. Type-2 attributes without a value are
  // written empty, as SIIM does; no dates or times are invented.
  const std::pair<DcmTagKey, std::string> strings[] = {
      {DCM_SpecificCharacterSet, "ISO_IR 100"},
      {DCM_SOPClassUID, sop_class},
      {DCM_SOPInstanceUID, meta.sop_instance_uid},
      {DCM_StudyDate, ""},
      {DCM_StudyTime, ""},
      {DCM_AccessionNumber, ""},
      {DCM_Modality, meta.modality.empty() ? std::string("OT") : meta.modality},
      {DCM_ReferringPhysicianName, ""},
      {DCM_StudyDescription, truncate_to_vr("LO", meta.study_description)},
      {DCM_SeriesDescription, series_description},
      // SIIM's anonymisation puts the pseudonymous patient ID into PatientName as well.
      {DCM_PatientName, truncate_to_vr("PN", meta.patient_id)},
      {DCM_PatientID, truncate_to_vr("LO", meta.patient_id)},
      {DCM_PatientBirthDate, ""},
      {DCM_PatientSex, meta.sex},
      {DCM_BodyPartExamined, meta.body_part},
      {DCM_ViewPosition, meta.view_position},
      {DCM_StudyInstanceUID, meta.study_instance_uid},
      {DCM_SeriesInstanceUID, meta.series_instance_uid},
      {DCM_StudyID, ""},
      {DCM_SeriesNumber, "1"},
      {DCM_InstanceNumber, "1"},
      {DCM_PatientOrientation, ""},
      {DCM_PhotometricInterpretation, "MONOCHROME2"},
  };
  for (const auto& [tag, value] : strings) {
    if (auto st = put_string(ds, tag, value, where); !st) return st;
  }
  // Conversion Type is part of the Secondary Capture module only (WSD = workstation).
  if (sop_class == kSecondaryCaptureSopClass) {
    if (auto st = put_string(ds, DCM_ConversionType, "WSD", where); !st) return st;
  }
  if (!pixel_spacing.empty()) {
    if (auto st = put_string(ds, DCM_PixelSpacing, pixel_spacing, where); !st) return st;
  }
  const std::pair<DcmTagKey, int> numbers[] = {
      {DCM_SamplesPerPixel, 1}, {DCM_Rows, image.rows},   {DCM_Columns, image.cols},
      {DCM_BitsAllocated, 8},   {DCM_BitsStored, 8},      {DCM_HighBit, 7},
      {DCM_PixelRepresentation, 0}};
  for (const auto& [tag, value] : numbers) {
    if (auto st = put_u16(ds, tag, value, where); !st) return st;
  }
  // Every text value against its VR (DS/IS/UI/DA/TM/LO/CS ... rules): a caller's meta with, say,
  // a lower-case BodyPartExamined is refused here, naming the attribute, instead of being written.
  if (auto st = check_dataset_values(ds, path_name(where)); !st) {
    return fail(ErrorCode::kInvalidArgument, st.error().message);
  }
  // After the check: a given age text is written verbatim (see format_patient_age).
  if (auto st = put_string(ds, DCM_PatientAge, format_patient_age(meta), where); !st) return st;
  OFCondition cond = ds.putAndInsertUint8Array(DCM_PixelData, image.px.data(),
                                               static_cast<unsigned long>(image.px.size()));
  if (cond.bad()) {
    return fail(ErrorCode::kInternal, where + "cannot set PixelData: " + cond.text());
  }
  return ok_status();
}

}  // namespace

Status write_dicom(const std::filesystem::path& path, const DicomMeta& meta, const Image8& image,
                   DicomEncoding encoding, int jpeg_quality) {
  if (auto st = check_inputs(path, meta, image, encoding, jpeg_quality); !st) return st;
  const std::string where = path.filename().string() + ": ";

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  if (auto st = fill_dataset(ds, meta, image, where); !st) return st;

  E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  if (encoding == DicomEncoding::kJpegBaseline) {
    register_jpeg_encoder_once();
    xfer = EXS_JPEGProcess1;
    DJ_RPLossy params(jpeg_quality);
    OFCondition cond = ds.chooseRepresentation(xfer, &params);
    if (cond.bad() || !ds.canWriteXfer(xfer)) {
      return fail(ErrorCode::kInternal,
                  where + "JPEG baseline encoding failed: " + std::string(cond.text()));
    }
  }

  return write_via_temp(path, [&](const std::filesystem::path& temp) -> Status {
    // EWM_createNewMeta: the meta header is rebuilt from the data set only (no stale or random
    // UIDs); DCMTK adds its fixed ImplementationClassUID/VersionName.
    OFCondition cond = file.saveFile(OFFilename(temp.c_str()), xfer, EET_ExplicitLength,
                                     EGL_recalcGL, EPD_noChange, 0, 0, EWM_createNewMeta);
    if (cond.bad()) {
      return fail(ErrorCode::kIo,
                  path.string() + ": cannot write DICOM file: " + std::string(cond.text()));
    }
    return ok_status();
  });
}

}  // namespace pneumo
