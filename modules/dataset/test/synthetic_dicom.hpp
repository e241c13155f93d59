// Test helper: writes small synthetic DICOMs with DCMTK directly (independent of pneumo::dicom's
// writer), so index tests control every tag, including UIDs that differ from the file name.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace pneumo::testing {

struct SyntheticDicom {
  std::string sop_instance_uid;
  std::string patient_id = "PAT-0";
  std::string sex = "M";
  std::string age = "038Y";        // PatientAge as stored; "" = absent
  std::string view_position = "PA";  // "" = absent
  std::string modality = "CR";
  std::string body_part = "CHEST";   // "" = absent
  int rows = 16;
  int cols = 16;
  std::optional<double> pixel_spacing_mm = 0.2;  // both directions
};

// Uncompressed explicit little endian, 8-bit MONOCHROME2, a gradient image.
// Throws std::runtime_error if DCMTK cannot write (a broken test environment, not a test result).
void write_synthetic_dicom(const std::filesystem::path& path, const SyntheticDicom& spec);

}  // namespace pneumo::testing
