// The AI result as a DICOM Structured Report a PACS can store and a viewer can list next to the
// source image: a Comprehensive 3D SR following TID 1500 "Measurement Report" as IHE AI Results
// (AIR) profiles it. DCMTK (dcmsr) stays behind this.
//
//   pneumo::SrFinding f{.probability = 0.93f, .positive = true, .area_cm2 = 41.2,
//                       .side = pneumo::AffectedSide::kRight};
//   pneumo::SrOptions opt;
//   opt.algorithm = {"pneumo", "0.1.0", "pneumo-siim.pneumo", "<sha256 of the model file>"};
//   auto st = pneumo::write_ai_result_sr("out/sr.dcm", "in/x.dcm", f, opt);
//
// Content tree (codes: DCM = DICOM, SCT = SNOMED CT, UCUM units, 99PNEUMO = ours):
//   CONTAINER (126000, DCM, "Imaging Measurement Report")              TID 1500
//     HAS CONCEPT MOD  CODE (121049 Language of Content Item and Descendants) = eng
//     HAS OBS CONTEXT  CODE (121005 Observer Type) = (121007 Device)
//     HAS OBS CONTEXT  UIDREF (121012 Device Observer UID) = 2.25.hash(name/version/sha256)
//     HAS OBS CONTEXT  TEXT (121013 Device Observer Name) = algorithm name
//     HAS OBS CONTEXT  TEXT (121014 Device Observer Manufacturer) = "pneumo"
//     HAS OBS CONTEXT  TEXT (121015 Device Observer Model Name) = model file name
//     HAS CONCEPT MOD  CODE (121058 Procedure reported) = (SCT 399208008 Plain chest X-ray)
//     CONTAINS CONTAINER (111028 Image Library)
//       CONTAINS CONTAINER (126200 Image Library Group)
//         CONTAINS IMAGE (the source image)
//     CONTAINS CONTAINER (126010 Imaging Measurements)
//       CONTAINS CONTAINER (125007 Measurement Group)                   TID 1411
//         HAS OBS CONTEXT TEXT (112039 Tracking Identifier) = "pneumothorax"
//         HAS OBS CONTEXT UIDREF (112040 Tracking Unique Identifier)
//         CONTAINS CODE (121071 Finding) = (SCT 36118008 Pneumothorax)
//         CONTAINS IMAGE (121191 Referenced Segment) = the SEG, segment 1
//         CONTAINS UIDREF (121232 Source series for segmentation) = the source's series
//         HAS CONCEPT MOD CODE (SCT 363698007 Finding Site) = (SCT 39607008 Lung structure)
//           HAS CONCEPT MOD CODE (SCT 272741003 Laterality) = Right / Left / Right and left
//                                                            (only when the side is known)
//         CONTAINS NUM (SCT 42798000 Area) = area in cm2 (only when pixel spacing is known)
//     CONTAINS CONTAINER (C0034375, UMLS, "Qualitative Evaluations")
//       CONTAINS CODE (SCT 36118008 Pneumothorax) = (SCT 52101004 Present) / (SCT 2667000 Absent)
//       CONTAINS NUM (99PNEUMO P-PROB "Probability of pneumothorax") = p, unit ("1", UCUM, "no units")
// Contributing Equipment Sequence: Manufacturer "pneumo", ManufacturerModelName = model file name,
// SoftwareVersions = [version, model sha256], purpose (109102, DCM, "Processing Equipment").
// Current Requested Procedure Evidence: the source image and the SEG.
//
// Like SEG and SC (dicom_outputs.hpp): same study as the source, Patient/Study attributes copied,
// deterministic UIDs (2.25.hash("pneumo/sr/" + source SOPInstanceUID)), the referenced SEG is the
// one write_dicom_seg writes for that source (sr_referenced_seg_uid), written atomically, passes
// dciodvfy.
//
// Thread-safety: functions may run concurrently on different files.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <cstddef>
#include <cstdint>

#include "pneumo/core/files.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/outputs/prediction_record.hpp"

namespace pneumo {

struct SrFinding {
  float probability = 0;           // P(pneumothorax), 0..1
  bool positive = false;           // the decision: "Present" when true
  std::optional<double> area_cm2;  // area of the predicted mask; nullopt without pixel spacing
  AffectedSide side = AffectedSide::kNone;
};

struct AlgorithmIdentity {
  std::string name = "pneumo";
  std::string version = "0";
  std::string model_name;    // e.g. "pneumo-siim.pneumo"
  std::string model_sha256;  // 64 hex digits
};

struct SrOptions {
  AlgorithmIdentity algorithm;
  std::string series_description = "pneumo pneumothorax AI result";
  int series_number = 9103;
  std::optional<std::string> content_date_time;  // "YYYYMMDDHHMMSS"; nullopt = now
};

// The SR as DICOM file bytes, from the source file's bytes (`source_name` is used in messages).
// Errors: the source not DICOM / without a valid SOPClassUID (kBadInput), a probability outside
// 0..1 (kInvalidArgument).
Result<Bytes> encode_ai_result_sr(const std::uint8_t* source_dicom, std::size_t source_size,
                                  std::string_view source_name, const SrFinding& finding, const SrOptions& options);

// encode_ai_result_sr on a file, written atomically. Errors: as above, the source missing
// (kNotFound), write failure (kIo).
Status write_ai_result_sr(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                          const SrFinding& finding, const SrOptions& options);

// The SOPInstanceUID write_dicom_seg gives the SEG of the source with this SOPInstanceUID.
std::string seg_uid_for_source(const std::string& source_sop_instance_uid);
// The SOPInstanceUID of the SC, and of the SR, of that source.
std::string sc_uid_for_source(const std::string& source_sop_instance_uid);
std::string sr_uid_for_source(const std::string& source_sop_instance_uid);

}  // namespace pneumo
