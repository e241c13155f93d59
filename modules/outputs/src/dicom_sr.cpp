// write_ai_result_sr: the AI result as a TID 1500 Comprehensive 3D SR with DCMTK's dcmsr.
#include <dcmtk/config/osconfig.h>  // must come first

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "dicom_source.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"
#include "pneumo/outputs/dicom_sr.hpp"

namespace pneumo {
namespace {

using detail::error_text;
using detail::put_string;

constexpr const char* kComprehensive3DSRStorage = "1.2.840.10008.5.1.4.1.1.88.34";
constexpr const char* kSegmentationStorage = "1.2.840.10008.5.1.4.1.1.66.4";

using Code = DSRCodedEntryValue;

// Builds the content tree by node ids: add(parent, ...) appends a child below `parent`.
class TreeBuilder {
 public:
  TreeBuilder(DSRDocumentTree& tree, std::string where) : tree_(tree), where_(std::move(where)) {}

  size_t add(size_t parent, DSRTypes::E_RelationshipType rel, DSRTypes::E_ValueType vt, const Code& concept_name) {
    if (!status_) return 0;
    if (tree_.gotoNode(parent) == 0) return note("cannot find parent node");
    const size_t id = tree_.addContentItem(rel, vt, DSRTypes::AM_belowCurrent);
    if (id == 0) return note("cannot add a content item");
    if (!concept_name.getCodeValue().empty()) {
      if (tree_.getCurrentContentItem().setConceptName(concept_name).bad()) return note("bad concept name");
    }
    return id;
  }
  size_t code(size_t parent, DSRTypes::E_RelationshipType rel, const Code& name, const Code& value) {
    const size_t id = add(parent, rel, DSRTypes::VT_Code, name);
    if (id && tree_.getCurrentContentItem().setCodeValue(value).bad()) return note("bad code value");
    return id;
  }
  size_t text(size_t parent, DSRTypes::E_RelationshipType rel, const Code& name, const std::string& value) {
    const size_t id = add(parent, rel, DSRTypes::VT_Text, name);
    if (id && tree_.getCurrentContentItem().setStringValue(value.c_str()).bad()) return note("bad text value");
    return id;
  }
  size_t uidref(size_t parent, DSRTypes::E_RelationshipType rel, const Code& name, const std::string& uid) {
    const size_t id = add(parent, rel, DSRTypes::VT_UIDRef, name);
    if (id && tree_.getCurrentContentItem().setStringValue(uid.c_str()).bad()) return note("bad UID value");
    return id;
  }
  size_t num(size_t parent, const Code& name, const std::string& value, const Code& unit) {
    const size_t id = add(parent, DSRTypes::RT_contains, DSRTypes::VT_Num, name);
    if (id && tree_.getCurrentContentItem().setNumericValue(DSRNumericMeasurementValue(value.c_str(), unit)).bad()) {
      return note("bad numeric value " + value);
    }
    return id;
  }
  size_t image(size_t parent, const Code& name, const DSRImageReferenceValue& ref) {
    const size_t id = add(parent, DSRTypes::RT_contains, DSRTypes::VT_Image, name);
    if (id && tree_.getCurrentContentItem().setImageReference(ref).bad()) return note("bad image reference");
    return id;
  }
  const Status& status() const { return status_; }

 private:
  size_t note(const std::string& what) {
    if (status_) status_ = fail(ErrorCode::kInternal, where_ + "SR content tree: " + what);
    return 0;
  }
  DSRDocumentTree& tree_;
  std::string where_;
  Status status_ = ok_status();
};

// DS value: at most 16 characters, no exponent.
std::string decimal_string(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s.substr(0, 16);
}

}  // namespace

std::string seg_uid_for_source(const std::string& sop) { return uid_from_text("pneumo/seg/" + sop); }
std::string sc_uid_for_source(const std::string& sop) { return uid_from_text("pneumo/sc/" + sop); }
std::string sr_uid_for_source(const std::string& sop) { return uid_from_text("pneumo/sr/" + sop); }

Result<Bytes> encode_ai_result_sr(const std::uint8_t* source_dicom, std::size_t source_size,
                                  std::string_view source_name, const SrFinding& finding, const SrOptions& options) {
  const std::string where = std::string(source_name) + ": SR: ";
  if (!(finding.probability >= 0.0f && finding.probability <= 1.0f)) {
    return fail(ErrorCode::kInvalidArgument, where + "probability must be in 0..1");
  }
  auto source = detail::load_source(source_dicom, source_size, source_name);
  if (!source) return source.error();
  const detail::SourceImage& src = source.value();
  const AlgorithmIdentity& algo = options.algorithm;
  const std::string version = algo.version.empty() ? "0" : algo.version;
  const std::string model_name = algo.model_name.empty() ? "unknown" : algo.model_name;

  DSRDocument doc(DSRTypes::DT_Comprehensive3DSR);
  if (doc.createNewSeriesInStudy(src.study_uid.c_str()).bad()) {
    return fail(ErrorCode::kInternal, where + "cannot start an SR series in study " + src.study_uid);
  }
  doc.setManufacturer("pneumo");
  doc.setSeriesDescription(options.series_description.substr(0, 64).c_str());
  doc.setSeriesNumber(std::to_string(options.series_number).c_str());
  doc.setInstanceNumber("1");
  doc.completeDocument();  // CompletionFlag COMPLETE: the algorithm reports everything it found

  const std::string seg_uid = seg_uid_for_source(src.sop_instance_uid);
  const std::string seg_series_uid = uid_from_text("pneumo/seg-series/" + src.study_uid);

  DSRDocumentTree& tree = doc.getTree();
  const size_t root = tree.addContentItem(DSRTypes::RT_isRoot, DSRTypes::VT_Container);
  if (root == 0 || tree.getCurrentContentItem().setConceptName(Code("126000", "DCM", "Imaging Measurement Report")).bad() ||
      tree.setTemplateIdentification("1500", "DCMR").bad()) {
    return fail(ErrorCode::kInternal, where + "cannot create the SR root container");
  }
  using T = DSRTypes;
  TreeBuilder b(tree, where);
  b.code(root, T::RT_hasConceptMod, Code("121049", "DCM", "Language of Content Item and Descendants"),
         Code("eng", "RFC5646", "English"));
  b.code(root, T::RT_hasObsContext, Code("121005", "DCM", "Observer Type"), Code("121007", "DCM", "Device"));
  b.uidref(root, T::RT_hasObsContext, Code("121012", "DCM", "Device Observer UID"),
           uid_from_text("pneumo/device/" + algo.name + "/" + version + "/" + algo.model_sha256));
  b.text(root, T::RT_hasObsContext, Code("121013", "DCM", "Device Observer Name"), algo.name.substr(0, 64));
  b.text(root, T::RT_hasObsContext, Code("121014", "DCM", "Device Observer Manufacturer"), "pneumo");
  b.text(root, T::RT_hasObsContext, Code("121015", "DCM", "Device Observer Model Name"), model_name.substr(0, 64));
  b.code(root, T::RT_hasConceptMod, Code("121058", "DCM", "Procedure reported"),
         Code("399208008", "SCT", "Plain chest X-ray"));

  const size_t library = b.add(root, T::RT_contains, T::VT_Container, Code("111028", "DCM", "Image Library"));
  const size_t group = b.add(library, T::RT_contains, T::VT_Container, Code("126200", "DCM", "Image Library Group"));
  b.image(group, Code(), DSRImageReferenceValue(src.sop_class_uid.c_str(), src.reference_sop_uid.c_str()));

  const size_t measurements =
      b.add(root, T::RT_contains, T::VT_Container, Code("126010", "DCM", "Imaging Measurements"));
  const size_t mg = b.add(measurements, T::RT_contains, T::VT_Container, Code("125007", "DCM", "Measurement Group"));
  if (mg && tree.gotoNode(mg) && tree.getCurrentContentItem().setContinuityOfContent(T::COC_Separate).bad()) {
    return fail(ErrorCode::kInternal, where + "cannot set continuity of content");
  }
  b.text(mg, T::RT_hasObsContext, Code("112039", "DCM", "Tracking Identifier"), "pneumothorax");
  b.uidref(mg, T::RT_hasObsContext, Code("112040", "DCM", "Tracking Unique Identifier"),
           uid_from_text("pneumo/sr-tracking/" + src.sop_instance_uid));
  b.code(mg, T::RT_contains, Code("121071", "DCM", "Finding"), Code("36118008", "SCT", "Pneumothorax"));
  {
    DSRImageReferenceValue seg_ref(kSegmentationStorage, seg_uid.c_str());
    seg_ref.getSegmentList().addItem(1);
    b.image(mg, Code("121191", "DCM", "Referenced Segment"), seg_ref);
  }
  b.uidref(mg, T::RT_contains, Code("121232", "DCM", "Source series for segmentation"), src.reference_series_uid);
  const size_t site = b.code(mg, T::RT_hasConceptMod, Code("363698007", "SCT", "Finding Site"),
                             Code("39607008", "SCT", "Lung structure"));
  if (finding.side == AffectedSide::kRight || finding.side == AffectedSide::kLeft ||
      finding.side == AffectedSide::kBilateral) {
    const Code side = finding.side == AffectedSide::kRight  ? Code("24028007", "SCT", "Right")
                      : finding.side == AffectedSide::kLeft ? Code("7771000", "SCT", "Left")
                                                            : Code("51440002", "SCT", "Right and left");
    b.code(site, T::RT_hasConceptMod, Code("272741003", "SCT", "Laterality"), side);
  }
  if (finding.area_cm2 && std::isfinite(*finding.area_cm2) && *finding.area_cm2 >= 0) {
    b.num(mg, Code("42798000", "SCT", "Area"), decimal_string(*finding.area_cm2, 2),
          Code("cm2", "UCUM", "square centimeter"));
  }

  const size_t qualitative =
      b.add(root, T::RT_contains, T::VT_Container, Code("C0034375", "UMLS", "Qualitative Evaluations"));
  b.code(qualitative, T::RT_contains, Code("36118008", "SCT", "Pneumothorax"),
         finding.positive ? Code("52101004", "SCT", "Present") : Code("2667000", "SCT", "Absent"));
  b.num(qualitative, Code("P-PROB", "99PNEUMO", "Probability of pneumothorax"),
        decimal_string(finding.probability, 4), Code("1", "UCUM", "no units"));
  if (!b.status()) return b.status().error();

  DSRSOPInstanceReferenceList& evidence = doc.getCurrentRequestedProcedureEvidence();
  if (evidence.addItem(src.study_uid.c_str(), src.reference_series_uid.c_str(), src.sop_class_uid.c_str(),
                       src.reference_sop_uid.c_str()).bad() ||
      evidence.addItem(src.study_uid.c_str(), seg_series_uid.c_str(), kSegmentationStorage, seg_uid.c_str()).bad()) {
    return fail(ErrorCode::kInternal, where + "cannot list the evidence (source image and SEG)");
  }

  DcmFileFormat out;
  DcmDataset& ds = *out.getDataset();
  OFCondition cond = doc.write(ds);
  if (cond.bad()) return fail(ErrorCode::kInternal, where + "cannot encode the SR: " + error_text(cond));
  detail::copy_patient_and_study(*src.file->getDataset(), ds, src.study_uid);
  if (auto st = detail::put_content_date_time(ds, options.content_date_time, where); !st) return st.error();
  // Deterministic identity: a re-sent SR replaces the earlier one.
  if (auto st = put_string(ds, DCM_SOPClassUID, kComprehensive3DSRStorage, where); !st) return st.error();
  if (auto st = put_string(ds, DCM_SOPInstanceUID, sr_uid_for_source(src.sop_instance_uid), where); !st) return st.error();
  if (auto st = put_string(ds, DCM_SeriesInstanceUID, uid_from_text("pneumo/sr-series/" + src.study_uid), where); !st) {
    return st.error();
  }
  if (auto st = put_string(ds, DCM_ManufacturerModelName, "pneumo", where); !st) return st.error();
  if (auto st = put_string(ds, DCM_SoftwareVersions, version.substr(0, 64), where); !st) return st.error();
  {
    DcmItem* eq = nullptr;
    if (ds.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, eq, 0).bad()) {
      return fail(ErrorCode::kInternal, where + "cannot add Contributing Equipment Sequence");
    }
    std::string versions = version.substr(0, 64);
    if (!algo.model_sha256.empty()) versions += "\\" + algo.model_sha256.substr(0, 64);
    if (auto st = put_string(*eq, DCM_Manufacturer, "pneumo", where); !st) return st.error();
    if (auto st = put_string(*eq, DCM_ManufacturerModelName, model_name.substr(0, 64), where); !st) return st.error();
    if (auto st = put_string(*eq, DCM_SoftwareVersions, versions, where); !st) return st.error();
    std::string description = algo.name + " " + version + ", model " + model_name +
                              (algo.model_sha256.empty() ? "" : " sha256 " + algo.model_sha256);
    if (description.size() > 64) description.resize(64);  // LO
    if (auto st = put_string(*eq, DCM_ContributionDescription, description, where); !st) return st.error();
    DcmItem* purpose = nullptr;
    if (eq->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, 0).bad()) {
      return fail(ErrorCode::kInternal, where + "cannot add the equipment's purpose");
    }
    if (auto st = put_string(*purpose, DCM_CodeValue, "109102", where); !st) return st.error();
    if (auto st = put_string(*purpose, DCM_CodingSchemeDesignator, "DCM", where); !st) return st.error();
    if (auto st = put_string(*purpose, DCM_CodeMeaning, "Processing Equipment", where); !st) return st.error();
  }

  return detail::save_to_bytes(out, EXS_LittleEndianExplicit, EPD_withoutPadding, where);
}

Status write_ai_result_sr(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                          const SrFinding& finding, const SrOptions& options) {
  return detail::write_from_source_file(path, source_dicom, [&](const Bytes& source) {
    return encode_ai_result_sr(source.data(), source.size(), source_dicom.string(), finding, options);
  });
}

}  // namespace pneumo
