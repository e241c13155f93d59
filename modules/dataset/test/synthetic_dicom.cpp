#include "synthetic_dicom.hpp"

#include <dcmtk/dcmdata/dctk.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace pneumo::testing {

void write_synthetic_dicom(const std::filesystem::path& path, const SyntheticDicom& spec) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  auto put = [&](const DcmTagKey& tag, const std::string& value) {
    if (value.empty()) return;
    OFCondition c = ds->putAndInsertString(tag, value.c_str());
    if (c.bad()) throw std::runtime_error(std::string("synthetic DICOM: ") + c.text());
  };
  put(DCM_SOPClassUID, UID_ComputedRadiographyImageStorage);
  put(DCM_SOPInstanceUID, spec.sop_instance_uid);
  put(DCM_StudyInstanceUID, spec.sop_instance_uid + ".1");
  put(DCM_SeriesInstanceUID, spec.sop_instance_uid + ".2");
  put(DCM_PatientName, "Synthetic^Patient");
  put(DCM_PatientID, spec.patient_id);
  put(DCM_PatientSex, spec.sex);
  put(DCM_PatientAge, spec.age);
  put(DCM_ViewPosition, spec.view_position);
  put(DCM_Modality, spec.modality);
  put(DCM_BodyPartExamined, spec.body_part);
  if (spec.pixel_spacing_mm) {
    const std::string s = std::to_string(*spec.pixel_spacing_mm);
    put(DCM_PixelSpacing, s + "\\" + s);
  }
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(spec.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(spec.cols));
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  put(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  std::vector<Uint8> px(static_cast<size_t>(spec.rows) * spec.cols);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<Uint8>(i % 256);
  ds->putAndInsertUint8Array(DCM_PixelData, px.data(), static_cast<unsigned long>(px.size()));
  OFCondition c = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
  if (c.bad()) throw std::runtime_error("synthetic DICOM: cannot write " + path.string() + ": " + c.text());
}

}  // namespace pneumo::testing
