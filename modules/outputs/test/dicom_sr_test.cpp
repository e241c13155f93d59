#include "pneumo/outputs/dicom_sr.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmsr/dsrdoc.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "pneumo/dicom/dicom.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

class DicomSr : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pneumo_sr_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    DicomMeta m;
    m.sop_instance_uid = "1.2.826.0.1.3680043.8.498.2001";
    m.study_instance_uid = "1.2.826.0.1.3680043.8.498.2002";
    m.series_instance_uid = "1.2.826.0.1.3680043.8.498.2003";
    m.patient_id = "synthetic-patient-9";
    m.sex = "M";
    m.age_text = "38";
    m.view_position = "PA";
    m.modality = "CR";
    m.body_part = "CHEST";
    m.pixel_spacing_row_mm = 0.168;
    m.pixel_spacing_col_mm = 0.168;
    m.rows = m.cols = 64;
    Image8 img(64, 64);
    std::mt19937 rng(7);
    for (auto& v : img.px) v = static_cast<std::uint8_t>(rng() & 0xff);
    source_ = dir_ / "source.dcm";
    auto st = write_dicom(source_, m, img, DicomEncoding::kJpegBaseline);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }
  void TearDown() override {
    if (!std::getenv("PNEUMO_KEEP_TEST_FILES")) fs::remove_all(dir_);
  }
  fs::path dir_, source_;
};

// dciodvfy's "Error" lines, or nullopt when it is not installed.
std::optional<std::vector<std::string>> dciodvfy_errors(const fs::path& file) {
  if (!fs::exists("/usr/bin/dciodvfy")) return std::nullopt;
  const std::string cmd = "/usr/bin/dciodvfy '" + file.string() + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::vector<std::string> errors;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    if (std::string(line).rfind("Error", 0) == 0) errors.emplace_back(line);
  }
  ::pclose(pipe);
  return errors;
}

std::string tag(const fs::path& file, const DcmTagKey& key, bool nested = false) {
  DcmFileFormat f;
  if (f.loadFile(OFFilename(file.c_str())).bad()) return "<unreadable>";
  OFString v;
  if (f.getDataset()->findAndGetOFStringArray(key, v, nested).bad()) return "<missing>";
  return v.c_str();
}

// Walks the SR tree with DCMTK's reader and returns "<concept meaning>=<value>" for each item.
std::vector<std::string> content_lines(const fs::path& file) {
  DcmFileFormat f;
  EXPECT_TRUE(f.loadFile(OFFilename(file.c_str())).good());
  DSRDocument doc;
  EXPECT_TRUE(doc.read(*f.getDataset()).good());
  std::vector<std::string> lines;
  DSRDocumentTree& tree = doc.getTree();
  if (tree.gotoRoot() == 0) return lines;
  do {
    DSRContentItem& ci = tree.getCurrentContentItem();
    std::string line = ci.getConceptName().getCodeMeaning().c_str();
    if (ci.getValueType() == DSRTypes::VT_Code) line += "=" + std::string(ci.getCodeValue().getCodeMeaning().c_str());
    if (ci.getValueType() == DSRTypes::VT_Num) line += "=" + std::string(ci.getNumericValue().getNumericValue().c_str());
    if (ci.getValueType() == DSRTypes::VT_Image) line += "=" + std::string(ci.getImageReference().getSOPInstanceUID().c_str());
    lines.push_back(line);
  } while (tree.iterate());
  return lines;
}

bool has(const std::vector<std::string>& lines, const std::string& s) {
  return std::find(lines.begin(), lines.end(), s) != lines.end();
}

TEST_F(DicomSr, PositiveFindingValidatesAndCarriesTheResult) {
  SrFinding f;
  f.probability = 0.9312f;
  f.positive = true;
  f.area_cm2 = 41.237;
  f.side = AffectedSide::kRight;
  SrOptions opt;
  opt.algorithm = {"pneumo", "0.1.0", "pneumo-siim.pneumo", std::string(64, 'a')};
  opt.content_date_time = "20240102030405";
  const fs::path sr = dir_ / "sr.dcm";
  auto st = write_ai_result_sr(sr, source_, f, opt);
  ASSERT_TRUE(st.ok()) << st.error().message;

  // The SEG it references is the one write_dicom_seg writes for this source.
  const fs::path seg = dir_ / "seg.dcm";
  Mask mask(64, 64);
  mask.at(10, 10) = 1;
  ASSERT_TRUE(write_dicom_seg(seg, source_, mask, SegOptions{}).ok());
  const std::string seg_uid = tag(seg, DCM_SOPInstanceUID);
  EXPECT_EQ(seg_uid, seg_uid_for_source("1.2.826.0.1.3680043.8.498.2001"));
  const fs::path sc = dir_ / "sc.dcm";
  ASSERT_TRUE(write_secondary_capture(sc, source_, ImageRgb(64, 64, 9), ScOptions{}).ok());
  EXPECT_EQ(tag(sc, DCM_SOPInstanceUID), sc_uid_for_source("1.2.826.0.1.3680043.8.498.2001"));

  EXPECT_EQ(tag(sr, DCM_SOPClassUID), "1.2.840.10008.5.1.4.1.1.88.34");
  EXPECT_EQ(tag(sr, DCM_SOPInstanceUID), sr_uid_for_source("1.2.826.0.1.3680043.8.498.2001"));
  EXPECT_EQ(tag(sr, DCM_StudyInstanceUID), "1.2.826.0.1.3680043.8.498.2002");
  EXPECT_EQ(tag(sr, DCM_PatientID), "synthetic-patient-9");
  EXPECT_EQ(tag(sr, DCM_ContentDate), "20240102");
  EXPECT_EQ(tag(sr, DCM_SoftwareVersions, /*nested=*/true), "0.1.0");

  const auto lines = content_lines(sr);
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  EXPECT_TRUE(has(lines, "Imaging Measurement Report")) << all;
  EXPECT_TRUE(has(lines, "Finding=Pneumothorax")) << all;
  EXPECT_TRUE(has(lines, "Pneumothorax=Present")) << all;
  EXPECT_TRUE(has(lines, "Probability of pneumothorax=0.9312")) << all;
  EXPECT_TRUE(has(lines, "Area=41.24")) << all;
  EXPECT_TRUE(has(lines, "Laterality=Right")) << all;
  EXPECT_TRUE(has(lines, "Referenced Segment=" + seg_uid)) << all;
  EXPECT_TRUE(has(lines, "=1.2.826.0.1.3680043.8.498.2001")) << all;  // the source in the image library

  // Contributing equipment carries the model's sha256.
  DcmFileFormat ff;
  ASSERT_TRUE(ff.loadFile(OFFilename(sr.c_str())).good());
  DcmItem* eq = nullptr;
  ASSERT_TRUE(ff.getDataset()->findAndGetSequenceItem(DCM_ContributingEquipmentSequence, eq, 0).good());
  OFString v;
  eq->findAndGetOFStringArray(DCM_SoftwareVersions, v);
  EXPECT_EQ(std::string(v.c_str()), "0.1.0\\" + std::string(64, 'a'));

  for (const fs::path& file : {sr, seg, sc}) {
    auto errors = dciodvfy_errors(file);
    if (!errors) {
      std::fprintf(stderr, "[ SKIPPED ] dciodvfy not installed: not validating %s\n", file.filename().c_str());
      continue;
    }
    std::string text;
    for (const auto& e : *errors) text += e;
    EXPECT_TRUE(errors->empty()) << file.filename() << " fails dciodvfy:\n" << text;
  }
}

TEST_F(DicomSr, NegativeFindingSaysAbsentAndHasNoLaterality) {
  SrFinding f;
  f.probability = 0.02f;
  f.positive = false;
  f.area_cm2 = 0.0;
  const fs::path sr = dir_ / "sr.dcm";
  ASSERT_TRUE(write_ai_result_sr(sr, source_, f, SrOptions{}).ok());
  const auto lines = content_lines(sr);
  EXPECT_TRUE(has(lines, "Pneumothorax=Absent"));
  EXPECT_FALSE(has(lines, "Pneumothorax=Present"));
  EXPECT_FALSE(has(lines, "Laterality=Right"));
  EXPECT_TRUE(has(lines, "Probability of pneumothorax=0.02"));
  auto errors = dciodvfy_errors(sr);
  if (errors) EXPECT_TRUE(errors->empty()) << (errors->empty() ? "" : errors->front());
}

TEST_F(DicomSr, RejectsBadProbabilityAndMissingSource) {
  SrFinding f;
  f.probability = 1.5f;
  auto st = write_ai_result_sr(dir_ / "a.dcm", source_, f, SrOptions{});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  f.probability = 0.5f;
  st = write_ai_result_sr(dir_ / "b.dcm", dir_ / "nope.dcm", f, SrOptions{});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(fs::exists(dir_ / "a.dcm"));
}

}  // namespace
}  // namespace pneumo
