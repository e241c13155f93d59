// write_dicom_seg / read_dicom_seg_mask with DCMTK's dcmseg.
#include <dcmtk/config/osconfig.h>  // must come first

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmiod/iodmacro.h>
#include <dcmtk/dcmiod/iodrules.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include <memory>
#include <string>

#include "dicom_source.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/dicom/vr.hpp"
#include "pneumo/dicom/vr_dcmtk.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"

namespace pneumo {
namespace {

using detail::error_text;

constexpr const char* kSegmentationStorage = "1.2.840.10008.5.1.4.1.1.66.4";

// Recommended display colour (pure red) in DICOM's scaled CIELab: L*, a*, b* mapped to 0..65535.
constexpr Uint16 kRedLab[3] = {34891, 53480, 50167};

Status check(const OFCondition& cond, const std::string& where, const char* what) {
  if (cond.bad()) return fail(ErrorCode::kInternal, where + what + ": " + error_text(cond));
  return ok_status();
}

}  // namespace

Result<Bytes> encode_dicom_seg(const std::uint8_t* source_dicom, std::size_t source_size, std::string_view source_name,
                               const Mask& mask, const SegOptions& options) {
  const std::string where = std::filesystem::path(std::string(source_name)).filename().string() + " SEG: ";
  auto source = detail::load_source(source_dicom, source_size, source_name);
  if (!source) return source.error();
  const detail::SourceImage& src = source.value();
  if (mask.rows != src.rows || mask.cols != src.cols ||
      mask.px.size() != static_cast<std::size_t>(mask.rows) * mask.cols) {
    return fail(ErrorCode::kInvalidArgument, where + "mask is " + std::to_string(mask.rows) + "x" +
                                                 std::to_string(mask.cols) + " but the source image is " +
                                                 std::to_string(src.rows) + "x" + std::to_string(src.cols));
  }
  const std::string version = options.software_version.empty() ? "0" : options.software_version;

  const std::string version_lo = truncate_to_vr("LO", version);
  IODGeneralEquipmentModule::EquipmentInfo equipment("pneumo", "pneumo", "0", version_lo.c_str());
  std::string description = "Pneumothorax predicted by pneumo";
  if (src.uids_derived) description += " for source image " + src.sop_instance_uid;
  description = truncate_to_vr("LO", description);
  ContentIdentificationMacro content("1", "PNEUMOTHORAX", description.c_str(), "");
  DcmSegmentation* raw = nullptr;
  OFCondition cond = DcmSegmentation::createBinarySegmentation(raw, static_cast<Uint16>(mask.rows),
                                                               static_cast<Uint16>(mask.cols), equipment, content);
  std::unique_ptr<DcmSegmentation> seg(raw);
  if (auto st = check(cond, where, "cannot create the segmentation"); !st) return st.error();
  // Projection radiographs have no Frame of Reference, and the standard requires one in a SEG
  // only when the source images have one; DCMTK 3.6.7's rule says type 1, so relax it to 1C.
  seg->getRules()->addRule(new IODRule(DCM_FrameOfReferenceUID, "1", "1C", "FrameOfReferenceModule",
                                       DcmIODTypes::IE_FOR),
                           OFTrue);

  // Identity: the source's study, a series of our own, deterministic instance UID.
  const std::string series_uid = uid_from_text("pneumo/seg-series/" + src.study_uid);
  const std::string sop_uid = uid_from_text("pneumo/seg/" + src.sop_instance_uid);
  if (auto st = check(seg->getStudy().setStudyInstanceUID(src.study_uid.c_str()), where, "StudyInstanceUID"); !st) {
    return st.error();
  }
  if (auto st = check(seg->getSeries().setSeriesInstanceUID(series_uid.c_str()), where, "SeriesInstanceUID"); !st) {
    return st.error();
  }
  if (auto st = check(seg->getSOPCommon().setSOPInstanceUID(sop_uid.c_str()), where, "SOPInstanceUID"); !st) {
    return st.error();
  }
  seg->getSeries().setSeriesNumber(std::to_string(options.series_number).c_str());
  seg->getSeries().setSeriesDescription(truncate_to_vr("LO", options.series_description).c_str());

  // The segment.
  DcmSegment* segment_raw = nullptr;
  cond = DcmSegment::create(segment_raw, "Pneumothorax",
                            CodeSequenceMacro("49755003", "SCT", "Morphologically Altered Structure"),
                            CodeSequenceMacro("36118008", "SCT", "Pneumothorax"), DcmSegTypes::SAT_AUTOMATIC,
                            "pneumo");
  if (auto st = check(cond, where, "cannot create the segment"); !st) return st.error();
  std::unique_ptr<DcmSegment> segment(segment_raw);
  segment->setSegmentDescription(
      truncate_to_vr("LO", "Pneumothorax (automatic, pneumo " + version + ")").c_str());
  segment->setRecommendedDisplayCIELabValue(kRedLab[0], kRedLab[1], kRedLab[2]);
  AlgorithmIdentificationMacro& algorithm = segment->getSegmentationAlgorithmIdentification();
  algorithm.getAlgorithmFamilyCode().set("123110", "DCM", "Artificial Intelligence");
  algorithm.setAlgorithmName("pneumo");
  algorithm.setAlgorithmVersion(version_lo.c_str());
  Uint16 segment_number = 0;
  cond = seg->addSegment(segment.get(), segment_number);
  if (auto st = check(cond, where, "cannot add the segment"); !st) return st.error();
  segment.release();  // owned by seg now

  // Shared functional groups: pixel spacing when the source has it.
  if (!src.pixel_spacing.empty()) {
    FGPixelMeasures measures;
    if (measures.setPixelSpacing(src.pixel_spacing.c_str()).good()) {
      if (auto st = check(seg->addForAllFrames(measures), where, "cannot add Pixel Measures"); !st) return st.error();
    }
  }

  // The one frame: its dimension index (the segment number) and where it was derived from.
  const std::string dimension_uid = uid_from_text("pneumo/seg-dimension/" + src.sop_instance_uid);
  seg->getDimensions().addDimensionIndex(DCM_ReferencedSegmentNumber, dimension_uid.c_str(),
                                         DCM_SegmentIdentificationSequence, "Segment");
  FGFrameContent frame_content;
  frame_content.setDimensionIndexValues(1, 0);
  OFVector<FGBase*> per_frame;
  per_frame.push_back(&frame_content);
  OFVector<ImageSOPInstanceReferenceMacro> refs;
  ImageSOPInstanceReferenceMacro ref;
  ref.setReferencedSOPClassUID(src.sop_class_uid.c_str());
  ref.setReferencedSOPInstanceUID(src.reference_sop_uid.c_str());
  refs.push_back(ref);
  std::unique_ptr<FGDerivationImage> derivation(FGDerivationImage::createMinimal(
      refs, "Segmentation of pneumothorax by pneumo", CodeSequenceMacro("113076", "DCM", "Segmentation"),
      CodeSequenceMacro("121322", "DCM", "Source image for image processing operation")));
  if (!derivation) return fail(ErrorCode::kInternal, where + "cannot create the Derivation Image functional group");
  per_frame.push_back(derivation.get());
  std::vector<Uint8> frame(mask.px.size());
  for (std::size_t i = 0; i < frame.size(); ++i) frame[i] = mask.px[i] ? 1 : 0;
  cond = seg->addFrame(frame.data(), segment_number, per_frame);
  if (auto st = check(cond, where, "cannot add the frame"); !st) return st.error();


  DcmFileFormat out;
  DcmDataset& ds = *out.getDataset();
  cond = seg->writeDataset(ds);
  if (auto st = check(cond, where, "cannot build the SEG data set"); !st) return st.error();
  detail::copy_patient_and_study(*src.file->getDataset(), ds, src.study_uid);
  if (auto st = detail::put_content_date_time(ds, options.content_date_time, where); !st) return st.error();
  // General Image: type 2C, required when there is no Image Orientation (Patient), as here.
  ds.putAndInsertString(DCM_PatientOrientation, "");
  // No Frame of Reference: drop the empty Position Reference Indicator DCMTK writes with it.
  ds.findAndDeleteElement(DCM_PositionReferenceIndicator);
  // A segmentation of lossy pixels is itself marked lossy (the SIIM sources are JPEG baseline).
  ds.findAndDeleteElement(DCM_LossyImageCompressionMethod);
  ds.findAndDeleteElement(DCM_LossyImageCompressionRatio);
  ds.putAndInsertString(DCM_LossyImageCompression, src.lossy ? "01" : "00");
  if (src.lossy && !src.lossy_method.empty()) {
    ds.putAndInsertString(DCM_LossyImageCompressionMethod, src.lossy_method.c_str());
    if (!src.lossy_ratio.empty()) ds.putAndInsertString(DCM_LossyImageCompressionRatio, src.lossy_ratio.c_str());
  }
  {
    // Common Instance Reference module: the source's series and instance.
    ds.findAndDeleteElement(DCM_ReferencedSeriesSequence);
    DcmItem* series_item = nullptr;
    if (ds.findOrCreateSequenceItem(DCM_ReferencedSeriesSequence, series_item, 0).good()) {
      series_item->putAndInsertString(DCM_SeriesInstanceUID, src.reference_series_uid.c_str());
      DcmItem* instance_item = nullptr;
      if (series_item->findOrCreateSequenceItem(DCM_ReferencedInstanceSequence, instance_item, 0).good()) {
        instance_item->putAndInsertString(DCM_ReferencedSOPClassUID, src.sop_class_uid.c_str());
        instance_item->putAndInsertString(DCM_ReferencedSOPInstanceUID, src.reference_sop_uid.c_str());
      }
    }
  }

  // Every text value against its VR's rules: anything invalid here is pneumo's bug.
  if (auto st = check_dataset_values(ds, where.substr(0, where.size() - 2)); !st) {
    return fail(ErrorCode::kInternal, st.error().message);
  }
  return detail::save_to_bytes(out, EXS_LittleEndianExplicit, EPD_noChange, where);
}

Status write_dicom_seg(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                       const Mask& mask, const SegOptions& options) {
  return detail::write_from_source_file(path, source_dicom, [&](const Bytes& source) {
    return encode_dicom_seg(source.data(), source.size(), source_dicom.string(), mask, options);
  });
}

Result<Mask> read_dicom_seg_mask(const std::filesystem::path& path) {
  detail::quiet_dcmtk_once();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return fail(ErrorCode::kNotFound, path.string() + ": does not exist");
  }
  DcmFileFormat file;
  OFCondition cond = file.loadFile(OFFilename(path.c_str()));
  if (cond.bad()) return fail(ErrorCode::kBadInput, path.string() + ": not a readable DICOM file: " + error_text(cond));
  DcmDataset& ds = *file.getDataset();
  OFString sop_class;
  ds.findAndGetOFString(DCM_SOPClassUID, sop_class);
  if (sop_class != kSegmentationStorage) {
    return fail(ErrorCode::kBadInput, path.string() + ": SOPClassUID is '" + std::string(sop_class.c_str()) +
                                          "', expected Segmentation Storage " + kSegmentationStorage);
  }
  Uint16 rows = 0, cols = 0;
  ds.findAndGetUint16(DCM_Rows, rows);
  ds.findAndGetUint16(DCM_Columns, cols);
  if (rows == 0 || cols == 0) return fail(ErrorCode::kBadInput, path.string() + ": SEG without Rows/Columns");
  DcmSegmentation* raw = nullptr;
  cond = DcmSegmentation::loadDataset(ds, raw);
  std::unique_ptr<DcmSegmentation> seg(raw);
  if (cond.bad() || !seg) {
    return fail(ErrorCode::kBadInput, path.string() + ": not a valid DICOM SEG: " + error_text(cond));
  }
  if (seg->getSegmentationType() != DcmSegTypes::ST_BINARY) {
    return fail(ErrorCode::kUnsupported, path.string() + ": SegmentationType is not BINARY");
  }
  Mask mask(rows, cols);
  const std::size_t pixels = static_cast<std::size_t>(rows) * cols;
  for (std::size_t f = 0; f < seg->getNumberOfFrames(); ++f) {
    const DcmIODTypes::Frame* frame = seg->getFrame(f);
    if (frame == nullptr || frame->pixData == nullptr) {
      return fail(ErrorCode::kBadInput, path.string() + ": frame " + std::to_string(f + 1) + " has no pixels");
    }
    if (frame->length >= pixels) {  // one byte per pixel
      for (std::size_t i = 0; i < pixels; ++i) mask.px[i] |= frame->pixData[i] ? 1 : 0;
    } else if (frame->length >= (pixels + 7) / 8) {  // bit-packed, least significant bit first
      for (std::size_t i = 0; i < pixels; ++i) mask.px[i] |= (frame->pixData[i / 8] >> (i % 8)) & 1;
    } else {
      return fail(ErrorCode::kBadInput, path.string() + ": frame " + std::to_string(f + 1) + " holds " +
                                            std::to_string(frame->length) + " bytes, too few for " +
                                            std::to_string(rows) + "x" + std::to_string(cols));
    }
  }
  return mask;
}

}  // namespace pneumo
