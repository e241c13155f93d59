// End-to-end tests of `pneumo dicom info`: runs the real CLI binary on synthetic files and checks
// the exit codes, the text and JSON output, and that the PatientID value never appears.
#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"

namespace fs = std::filesystem;

namespace {

// Where CMake put the CLI ($<TARGET_FILE:pneumo>); the test depends on that target, so a missing
// binary is a broken build: fail, never skip.
const fs::path kBinary = PNEUMO_CLI_BINARY;
const fs::path kShared = PNEUMO_SHARED_DATA;
constexpr const char* kSecretPatientId = "SECRET-PATIENT-4711";

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("pneumo_dicom_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

CliRun run_cli(const std::string& args) {
  const fs::path out = temp_dir() / "stdout.txt";
  const fs::path err = temp_dir() / "stderr.txt";
  const std::string cmd = "'" + kBinary.string() + "' -q " + args + " >'" + out.string() + "' 2>'" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = pneumo::read_file(out).ok() ? pneumo::read_file(out).value() : "";
  r.err = pneumo::read_file(err).ok() ? pneumo::read_file(err).value() : "";
  return r;
}

fs::path write_dicom_file(const fs::path& path, const std::string& sop_uid) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, sop_uid.c_str());
  ds->putAndInsertString(DCM_Modality, "CR");
  ds->putAndInsertString(DCM_PatientID, kSecretPatientId);
  ds->putAndInsertString(DCM_PatientSex, "M");
  ds->putAndInsertString(DCM_PatientAge, "045Y");
  ds->putAndInsertString(DCM_ViewPosition, "PA");
  ds->putAndInsertString(DCM_PixelSpacing, "0.168\\0.168");
  ds->putAndInsertUint16(DCM_Rows, 16);
  ds->putAndInsertUint16(DCM_Columns, 24);
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  std::vector<Uint8> px(16 * 24);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<Uint8>(i);
  ds->putAndInsertUint8Array(DCM_PixelData, px.data(), px.size());
  EXPECT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  return path;
}

class DicomCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(kBinary)) << "CLI binary not built: " << kBinary;
  }
};

TEST_F(DicomCli, SingleGoodFileText) {
  const fs::path f = write_dicom_file(temp_dir() / "good.dcm", "1.2.826.0.1.3680043.10.999.77");
  const CliRun r = run_cli("dicom info '" + f.string() + "'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("1.2.826.0.1.3680043.10.999.77"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("<present>"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("16 x 24"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kSecretPatientId), std::string::npos) << "PatientID leaked";
  EXPECT_EQ(r.err.find(kSecretPatientId), std::string::npos) << "PatientID leaked";
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST_F(DicomCli, JsonHasFieldsButNoPatientId) {
  const fs::path f = write_dicom_file(temp_dir() / "json.dcm", "1.2.826.0.1.3680043.10.999.78");
  const CliRun r = run_cli("dicom info --json '" + f.string() + "'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find(kSecretPatientId), std::string::npos) << "PatientID leaked";
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 1u);
  const auto& o = j[0];
  EXPECT_FALSE(o.contains("patient_id"));
  EXPECT_EQ(o["patient_id_present"], true);
  EXPECT_EQ(o["sop_instance_uid"], "1.2.826.0.1.3680043.10.999.78");
  EXPECT_EQ(o["rows"], 16);
  EXPECT_EQ(o["cols"], 24);
  EXPECT_EQ(o["sex"], "M");
  EXPECT_DOUBLE_EQ(o["age_years"].get<double>(), 45.0);
  EXPECT_EQ(o["view_position"], "PA");
  EXPECT_DOUBLE_EQ(o["pixel_spacing_mm"][1].get<double>(), 0.168);
  EXPECT_EQ(o["transfer_syntax_uid"], "1.2.840.10008.1.2.1");
  EXPECT_EQ(o["file"], f.string());
}

TEST_F(DicomCli, DirectoryWithBadFilesIsPartial) {
  const fs::path dir = temp_dir() / "scan";
  fs::create_directories(dir / "sub");
  write_dicom_file(dir / "a.dcm", "1.2.826.0.1.3680043.10.999.1");
  write_dicom_file(dir / "sub" / "b", "1.2.826.0.1.3680043.10.999.2");  // no extension: still read
  ASSERT_TRUE(pneumo::write_png(dir / "c.png", pneumo::Image8(8, 8, 3)).ok());
  const CliRun r = run_cli("dicom info --json '" + dir.string() + "'");
  EXPECT_EQ(r.code, 7) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["sop_instance_uid"], "1.2.826.0.1.3680043.10.999.1");
  EXPECT_EQ(j[1]["sop_instance_uid"], "1.2.826.0.1.3680043.10.999.2");
  // exactly one error line, naming the PNG
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("c.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not a DICOM file"), std::string::npos) << r.err;
}

TEST_F(DicomCli, SingleBadFileGivesItsExitCode) {
  const fs::path png = temp_dir() / "lonely.png";
  ASSERT_TRUE(pneumo::write_png(png, pneumo::Image8(8, 8, 3)).ok());
  CliRun r = run_cli("dicom info '" + png.string() + "'");
  EXPECT_EQ(r.code, 5) << r.err;  // kExitBadInput
  EXPECT_TRUE(r.out.empty());
  r = run_cli("dicom info '" + (temp_dir() / "missing.dcm").string() + "'");
  EXPECT_EQ(r.code, 3) << r.err;  // kExitNotFound
  EXPECT_NE(r.err.find("missing.dcm"), std::string::npos) << r.err;
}

TEST_F(DicomCli, Jpeg2000DecodeIsUnsupported) {
  const fs::path j2k = kShared / "other_dicom/dwv_nema-nm1_j2kr_NONCXR.dcm";
  if (!fs::exists(j2k)) GTEST_SKIP() << "real data not found: " << j2k;
  CliRun r = run_cli("dicom info '" + j2k.string() + "'");
  EXPECT_EQ(r.code, 0) << r.err;  // the header is readable
  r = run_cli("dicom info --decode '" + j2k.string() + "'");
  EXPECT_EQ(r.code, 6) << r.err;  // kExitUnsupported
  EXPECT_NE(r.err.find("JPEG 2000"), std::string::npos) << r.err;
}

}  // namespace
