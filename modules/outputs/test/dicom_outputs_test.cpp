#include "pneumo/outputs/dicom_outputs.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/dicom/vr.hpp"
#include "pneumo/dicom/vr_dcmtk.hpp"
#include "pneumo/outputs/overlay.hpp"

// 1 when a missing tool must fail the test (CI=true, see the root CMakeLists.txt).
#ifndef PNEUMO_STRICT_TESTS
#define PNEUMO_STRICT_TESTS 0
#endif

namespace fs = std::filesystem;

namespace pneumo {
namespace {

class DicomOutputs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pneumo_outputs_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!std::getenv("PNEUMO_KEEP_TEST_FILES")) fs::remove_all(dir_);
  }
  fs::path dir_;
};

std::string dciodvfy_path() {
  std::string p = PNEUMO_DCIODVFY;
  if (!p.empty() && fs::exists(p)) return p;
  if (fs::exists("/usr/bin/dciodvfy")) return "/usr/bin/dciodvfy";
  return "";
}

struct Validation {
  std::vector<std::string> errors;  // dciodvfy's "Error - ..." lines
  int exit_status = 0;
};

// Runs dciodvfy; nullopt when dciodvfy is missing.
std::optional<Validation> run_dciodvfy(const fs::path& file) {
  const std::string tool = dciodvfy_path();
  if (tool.empty()) return std::nullopt;
  const std::string cmd = "'" + tool + "' '" + file.string() + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return std::nullopt;
  Validation v;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    if (std::string(line).rfind("Error", 0) == 0) v.errors.emplace_back(line);
  }
  const int status = ::pclose(pipe);
  v.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return v;
}

// dciodvfy must report no errors and exit 0. Without dciodvfy the check skips loudly on a
// developer machine and fails under PNEUMO_STRICT_TESTS (CI), where install-deps installs it.
void expect_valid(const fs::path& file) {
  auto v = run_dciodvfy(file);
  if (!v) {
    if (PNEUMO_STRICT_TESTS) {
      ADD_FAILURE() << "dciodvfy not installed (apt-get install dicom3tools): cannot validate " << file;
    } else {
      std::fprintf(stderr, "[ SKIPPED ] dciodvfy not installed (apt-get install dicom3tools): not validating %s\n",
                   file.filename().c_str());
    }
    return;
  }
  std::string all;
  for (const auto& e : v->errors) all += e;
  EXPECT_TRUE(v->errors.empty()) << file.filename() << " fails dciodvfy:\n" << all;
  EXPECT_EQ(v->exit_status, 0) << file.filename() << ": dciodvfy exit status " << v->exit_status;
}

// The attribute's value at the top level, or anywhere (nested sequences) when `nested`.
std::string tag_string(const fs::path& file, const DcmTagKey& tag, bool nested = false) {
  DcmFileFormat f;
  if (f.loadFile(OFFilename(file.c_str())).bad()) return "<unreadable>";
  OFString v;
  if (f.getDataset()->findAndGetOFStringArray(tag, v, nested).bad()) return "<missing>";
  return v.c_str();
}

DicomMeta synthetic_meta(int rows, int cols) {
  DicomMeta m;
  m.sop_instance_uid = "1.2.826.0.1.3680043.8.498.1001";
  m.study_instance_uid = "1.2.826.0.1.3680043.8.498.1002";
  m.series_instance_uid = "1.2.826.0.1.3680043.8.498.1003";
  m.patient_id = "synthetic-patient-7";
  m.sex = "F";
  m.age_text = "38";  // as SIIM writes it: not a valid AS value
  m.view_position = "PA";
  m.modality = "CR";
  m.body_part = "CHEST";
  m.pixel_spacing_row_mm = 0.143;
  m.pixel_spacing_col_mm = 0.143;
  m.rows = rows;
  m.cols = cols;
  return m;
}

Image8 noise_image(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  Image8 img(rows, cols);
  for (auto& v : img.px) v = static_cast<std::uint8_t>(rng() & 0xff);
  return img;
}

Mask random_blob_mask(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  Mask m(rows, cols);
  for (int k = 0; k < 3; ++k) {
    const int r0 = static_cast<int>(rng() % rows), c0 = static_cast<int>(rng() % cols);
    const int h = 1 + static_cast<int>(rng() % (rows / 3)), w = 1 + static_cast<int>(rng() % (cols / 3));
    for (int r = r0; r < std::min(rows, r0 + h); ++r) {
      for (int c = c0; c < std::min(cols, c0 + w); ++c) m.at(r, c) = 1;
    }
  }
  return m;
}

fs::path write_source(const fs::path& dir, const DicomMeta& meta, unsigned seed) {
  const fs::path p = dir / "source.dcm";
  auto st = write_dicom(p, meta, noise_image(meta.rows, meta.cols, seed), DicomEncoding::kJpegBaseline);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
  return p;
}

// A copy of `source` whose SOPInstanceUID is SIIM-stage-2-like ("ID_...") and whose study and
// series UIDs are empty (write_dicom refuses such values, so DCMTK edits them in).
fs::path make_id_source(const fs::path& source, const fs::path& out) {
  DcmFileFormat f;
  EXPECT_TRUE(f.loadFile(OFFilename(source.c_str())).good());
  DcmDataset* ds = f.getDataset();
  ds->putAndInsertString(DCM_SOPInstanceUID, "ID_0123abcd");
  ds->putAndInsertString(DCM_StudyInstanceUID, "");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "");
  EXPECT_TRUE(f.saveFile(OFFilename(out.c_str()), EXS_Unknown, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0, 0,
                         EWM_createNewMeta)
                  .good());
  return out;
}

TEST(Uid, DeterministicValidAndDistinct) {
  const std::string a = uid_from_text("pneumo/seg/1.2.3");
  EXPECT_EQ(a, uid_from_text("pneumo/seg/1.2.3"));
  EXPECT_NE(a, uid_from_text("pneumo/seg/1.2.4"));
  EXPECT_NE(a, uid_from_text("pneumo/sc/1.2.3"));
  EXPECT_EQ(a.rfind("2.25.", 0), 0u);
  EXPECT_TRUE(is_valid_uid(a)) << a;
  EXPECT_LE(a.size(), 44u);
  for (int i = 0; i < 2000; ++i) {
    const std::string u = uid_from_text("x" + std::to_string(i));
    ASSERT_TRUE(is_valid_uid(u)) << u;
  }
  EXPECT_TRUE(is_valid_uid("1.2.840.10008.5.1.4.1.1.7"));
  EXPECT_FALSE(is_valid_uid(""));
  EXPECT_FALSE(is_valid_uid("ID_004d6fbb6"));
  EXPECT_FALSE(is_valid_uid("1..2"));
  EXPECT_FALSE(is_valid_uid("1.02"));
  EXPECT_FALSE(is_valid_uid("1.2."));
  EXPECT_FALSE(is_valid_uid(std::string(65, '1')));
}

TEST_F(DicomOutputs, SegRoundTripValidatesAndJoinsTheSourceStudy) {
  const DicomMeta meta = synthetic_meta(/*rows=*/48, /*cols=*/64);  // not square: catches transposes
  const fs::path source = write_source(dir_, meta, 1);
  for (unsigned seed = 1; seed <= 5; ++seed) {
    SCOPED_TRACE(seed);
    const Mask mask = random_blob_mask(48, 64, seed);
    SegOptions opt;
    opt.software_version = "9.8.7";
    const fs::path seg = dir_ / ("seg" + std::to_string(seed) + ".dcm");
    auto st = write_dicom_seg(seg, source, mask, opt);
    ASSERT_TRUE(st.ok()) << st.error().message;
    auto back = read_dicom_seg_mask(seg);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(back.value(), mask);
    if (seed == 1) expect_valid(seg);
  }
  const fs::path seg = dir_ / "seg1.dcm";
  EXPECT_EQ(tag_string(seg, DCM_SOPClassUID), "1.2.840.10008.5.1.4.1.1.66.4");
  EXPECT_EQ(tag_string(seg, DCM_Modality), "SEG");
  EXPECT_EQ(tag_string(seg, DCM_StudyInstanceUID), meta.study_instance_uid);
  EXPECT_EQ(tag_string(seg, DCM_SOPInstanceUID), uid_from_text("pneumo/seg/" + meta.sop_instance_uid));
  EXPECT_NE(tag_string(seg, DCM_SeriesInstanceUID), meta.series_instance_uid);
  EXPECT_EQ(tag_string(seg, DCM_PatientID), meta.patient_id);
  EXPECT_EQ(tag_string(seg, DCM_PatientAge), "038Y");
  EXPECT_EQ(tag_string(seg, DCM_SegmentLabel, /*nested=*/true), "Pneumothorax");
  EXPECT_EQ(tag_string(seg, DCM_ReferencedSOPInstanceUID, /*nested=*/true), meta.sop_instance_uid);
  EXPECT_EQ(tag_string(seg, DCM_AlgorithmVersion, /*nested=*/true), "9.8.7");
  EXPECT_EQ(tag_string(seg, DCM_LossyImageCompression), "01");  // the source is JPEG baseline
  EXPECT_EQ(tag_string(seg, DCM_SegmentationType), "BINARY");
  // Referenced Series Sequence names the source series.
  DcmFileFormat f;
  ASSERT_TRUE(f.loadFile(OFFilename(seg.c_str())).good());
  DcmItem* item = nullptr;
  ASSERT_TRUE(f.getDataset()->findAndGetSequenceItem(DCM_ReferencedSeriesSequence, item, 0).good());
  OFString series;
  item->findAndGetOFString(DCM_SeriesInstanceUID, series);
  EXPECT_EQ(std::string(series.c_str()), meta.series_instance_uid);
}

TEST_F(DicomOutputs, SameInputsGiveIdenticalBytes) {
  const DicomMeta meta = synthetic_meta(32, 40);
  const fs::path source = write_source(dir_, meta, 2);
  const Mask mask = random_blob_mask(32, 40, 9);
  SegOptions seg_opt;
  seg_opt.content_date_time = "20240102030405";
  ASSERT_TRUE(write_dicom_seg(dir_ / "a.dcm", source, mask, seg_opt).ok());
  ASSERT_TRUE(write_dicom_seg(dir_ / "b.dcm", source, mask, seg_opt).ok());
  EXPECT_EQ(read_file(dir_ / "a.dcm").value(), read_file(dir_ / "b.dcm").value());
  EXPECT_EQ(tag_string(dir_ / "a.dcm", DCM_ContentDate), "20240102");
  ScOptions sc_opt;
  sc_opt.content_date_time = "20240102030405";
  const ImageRgb rgb = grey_to_rgb(noise_image(32, 40, 3));
  ASSERT_TRUE(write_secondary_capture(dir_ / "c.dcm", source, rgb, sc_opt).ok());
  ASSERT_TRUE(write_secondary_capture(dir_ / "d.dcm", source, rgb, sc_opt).ok());
  EXPECT_EQ(read_file(dir_ / "c.dcm").value(), read_file(dir_ / "d.dcm").value());
  seg_opt.content_date_time = "2024-01-02";
  auto bad = write_dicom_seg(dir_ / "e.dcm", source, mask, seg_opt);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ / "e.dcm"));
}

TEST_F(DicomOutputs, SegErrors) {
  const DicomMeta meta = synthetic_meta(32, 40);
  const fs::path source = write_source(dir_, meta, 2);
  auto wrong_size = write_dicom_seg(dir_ / "x.dcm", source, Mask(40, 32), {});
  ASSERT_FALSE(wrong_size.ok());
  EXPECT_EQ(wrong_size.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(wrong_size.error().message.find("40x32"), std::string::npos) << wrong_size.error().message;
  auto missing = write_dicom_seg(dir_ / "x.dcm", dir_ / "nope.dcm", Mask(32, 40), {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(write_file_atomic(dir_ / "junk.dcm", "not a dicom file at all").ok());
  auto junk = write_dicom_seg(dir_ / "x.dcm", dir_ / "junk.dcm", Mask(32, 40), {});
  ASSERT_FALSE(junk.ok());
  EXPECT_EQ(junk.error().code, ErrorCode::kBadInput);
  EXPECT_FALSE(fs::exists(dir_ / "x.dcm"));
  // A source image is not a SEG.
  auto not_seg = read_dicom_seg_mask(source);
  ASSERT_FALSE(not_seg.ok());
  EXPECT_EQ(not_seg.error().code, ErrorCode::kBadInput);
}

TEST_F(DicomOutputs, EmptyMaskSegRoundTrips) {
  const DicomMeta meta = synthetic_meta(16, 24);
  const fs::path source = write_source(dir_, meta, 4);
  ASSERT_TRUE(write_dicom_seg(dir_ / "seg.dcm", source, Mask(16, 24), {}).ok());
  auto back = read_dicom_seg_mask(dir_ / "seg.dcm");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), Mask(16, 24));
  expect_valid(dir_ / "seg.dcm");
}

TEST_F(DicomOutputs, SecondaryCaptureRoundTripValidates) {
  const DicomMeta meta = synthetic_meta(48, 64);
  const fs::path source = write_source(dir_, meta, 5);
  OverlayOptions o;
  o.positive = true;
  o.probability = 0.8f;
  const ImageRgb rgb = render_overlay(noise_image(48, 64, 6), random_blob_mask(48, 64, 7), std::nullopt, o);
  ASSERT_TRUE(write_secondary_capture(dir_ / "sc.dcm", source, rgb, {}).ok());
  auto back = read_secondary_capture(dir_ / "sc.dcm");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), rgb);
  expect_valid(dir_ / "sc.dcm");
  const fs::path sc = dir_ / "sc.dcm";
  EXPECT_EQ(tag_string(sc, DCM_SOPClassUID), "1.2.840.10008.5.1.4.1.1.7");
  EXPECT_EQ(tag_string(sc, DCM_PhotometricInterpretation), "RGB");
  EXPECT_EQ(tag_string(sc, DCM_BurnedInAnnotation), "YES");
  EXPECT_EQ(tag_string(sc, DCM_ConversionType), "WSD");
  EXPECT_EQ(tag_string(sc, DCM_StudyInstanceUID), meta.study_instance_uid);
  EXPECT_EQ(tag_string(sc, DCM_LossyImageCompression), "01");  // the source is JPEG baseline
  EXPECT_EQ(tag_string(sc, DCM_ReferencedSOPInstanceUID, /*nested=*/true), meta.sop_instance_uid);
  EXPECT_NE(tag_string(sc, DCM_SeriesInstanceUID), tag_string(source, DCM_SeriesInstanceUID));
  // An SC at another size than the source is fine (no PixelSpacing then).
  ASSERT_TRUE(write_secondary_capture(dir_ / "small.dcm", source, ImageRgb(10, 12, 7), {}).ok());
  EXPECT_EQ(tag_string(dir_ / "small.dcm", DCM_PixelSpacing), "<missing>");
  EXPECT_EQ(read_secondary_capture(dir_ / "small.dcm").value(), ImageRgb(10, 12, 7));
}

TEST_F(DicomOutputs, SourceWithoutUidsGetsDerivedUids) {
  const DicomMeta meta = synthetic_meta(32, 32);
  const fs::path source = make_id_source(write_source(dir_, meta, 8), dir_ / "ID_0123abcd.dcm");
  const Mask mask = random_blob_mask(32, 32, 11);
  ASSERT_TRUE(write_dicom_seg(dir_ / "seg.dcm", source, mask, {}).ok());
  ASSERT_TRUE(write_secondary_capture(dir_ / "sc.dcm", source, grey_to_rgb(noise_image(32, 32, 1)), {}).ok());
  const std::string study = uid_from_text("pneumo/study/ID_0123abcd");
  EXPECT_EQ(tag_string(dir_ / "seg.dcm", DCM_StudyInstanceUID), study);
  EXPECT_EQ(tag_string(dir_ / "sc.dcm", DCM_StudyInstanceUID), study);
  const std::string source_sop = uid_from_text("pneumo/source/ID_0123abcd");
  EXPECT_EQ(tag_string(dir_ / "seg.dcm", DCM_ReferencedSOPInstanceUID, /*nested=*/true), source_sop);
  EXPECT_EQ(tag_string(dir_ / "sc.dcm", DCM_ReferencedSOPInstanceUID, /*nested=*/true), source_sop);
  EXPECT_NE(tag_string(dir_ / "seg.dcm", DCM_ContentDescription).find("ID_0123abcd"), std::string::npos);
  EXPECT_EQ(read_dicom_seg_mask(dir_ / "seg.dcm").value(), mask);
  expect_valid(dir_ / "seg.dcm");
  expect_valid(dir_ / "sc.dcm");
}

TEST_F(DicomOutputs, SourceWithoutSopInstanceUidIsNamedByItsFileStem) {
  const fs::path source = write_source(dir_, synthetic_meta(16, 16), 12);
  DcmFileFormat f;
  ASSERT_TRUE(f.loadFile(OFFilename(source.c_str())).good());
  f.getDataset()->findAndDeleteElement(DCM_SOPInstanceUID);
  const fs::path broken = dir_ / "no-uid.dcm";
  ASSERT_TRUE(f.saveFile(OFFilename(broken.c_str()), EXS_Unknown).good());
  ASSERT_TRUE(write_dicom_seg(dir_ / "seg.dcm", broken, Mask(16, 16, 1), {}).ok());
  EXPECT_EQ(tag_string(dir_ / "seg.dcm", DCM_SOPInstanceUID), uid_from_text("pneumo/seg/no-uid"));
  EXPECT_EQ(read_dicom_seg_mask(dir_ / "seg.dcm").value(), Mask(16, 16, 1));
  expect_valid(dir_ / "seg.dcm");
}

TEST_F(DicomOutputs, RealSiimFiles) {
  const fs::path data = fs::path(PNEUMO_SHARED_DATA) / "siim" / "dicom";
  if (!fs::exists(data)) GTEST_SKIP() << "real data not found at " << data << " (../shared/data); skipping";
  const fs::path files[] = {data / "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027.dcm",
                            data / "ID_004d6fbb6.dcm"};
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    ASSERT_TRUE(fs::exists(file));
    auto src = read_dicom(file);
    ASSERT_TRUE(src.ok()) << src.error().message;
    Mask mask(src->image.rows, src->image.cols);
    for (int r = 300; r < 600; ++r) {
      for (int c = 100; c < 250 + r / 4; ++c) mask.at(r, c) = 1;
    }
    const fs::path seg = dir_ / (file.stem().string() + "_seg.dcm");
    const fs::path sc = dir_ / (file.stem().string() + "_sc.dcm");
    auto st = write_dicom_seg(seg, file, mask, {});
    ASSERT_TRUE(st.ok()) << st.error().message;
    OverlayOptions o;
    o.positive = true;
    o.probability = 0.9f;
    const ImageRgb rgb = render_overlay(src->image, mask, std::nullopt, o);
    auto st2 = write_secondary_capture(sc, file, rgb, {});
    ASSERT_TRUE(st2.ok()) << st2.error().message;
    EXPECT_EQ(read_dicom_seg_mask(seg).value(), mask);
    EXPECT_EQ(read_secondary_capture(sc).value(), rgb);
    expect_valid(seg);
    expect_valid(sc);
    EXPECT_EQ(tag_string(seg, DCM_PixelSpacing, /*nested=*/true), tag_string(file, DCM_PixelSpacing));
    EXPECT_EQ(tag_string(seg, DCM_PatientID), tag_string(file, DCM_PatientID));
  }
}

// Every distinct Pixel Spacing among the real SIIM files (dicom/ and the first 300 of dicom-1k/):
// SEG and SC carry it as a valid DS ("0.143", never the source's "0.14300000000000002"), and both
// objects pass dciodvfy without errors.
TEST_F(DicomOutputs, RealFilesOfEverySpacingWriteValidDsValues) {
  const fs::path siim = fs::path(PNEUMO_SHARED_DATA) / "siim";
  if (!fs::is_directory(siim / "dicom")) GTEST_SKIP() << "real data not found at " << siim << " (../shared/data); skipping";
  std::map<std::string, fs::path> by_spacing;  // raw PixelSpacing text -> first file with it
  for (const char* sub : {"dicom", "dicom-1k"}) {
    std::vector<fs::path> files;
    if (!fs::is_directory(siim / sub)) continue;
    for (const auto& e : fs::recursive_directory_iterator(siim / sub)) {
      if (e.path().extension() == ".dcm") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.size() > 300) files.resize(300);
    for (const auto& f : files) by_spacing.emplace(tag_string(f, DCM_PixelSpacing), f);
  }
  ASSERT_GE(by_spacing.size(), 3u) << "expected several spacings among the real files";
  ASSERT_TRUE(by_spacing.count("0.14300000000000002\\0.14300000000000002"))
      << "the 19-character SIIM spacing is no longer among the files";
  for (const auto& [spacing, file] : by_spacing) {
    SCOPED_TRACE(spacing + " in " + file.filename().string());
    auto expected = normalise_decimal_string(spacing);
    ASSERT_TRUE(expected.ok()) << expected.error().message;
    auto src = read_dicom(file);
    ASSERT_TRUE(src.ok()) << src.error().message;
    Mask mask(src->image.rows, src->image.cols);
    for (int r = 400; r < 500; ++r) {
      for (int c = 200; c < 320; ++c) mask.at(r, c) = 1;
    }
    const fs::path seg = dir_ / (file.stem().string() + "_seg.dcm");
    const fs::path sc = dir_ / (file.stem().string() + "_sc.dcm");
    auto st = write_dicom_seg(seg, file, mask, {});
    ASSERT_TRUE(st.ok()) << st.error().message;
    auto st2 = write_secondary_capture(sc, file, grey_to_rgb(src->image), {});
    ASSERT_TRUE(st2.ok()) << st2.error().message;
    EXPECT_EQ(tag_string(seg, DCM_PixelSpacing, /*nested=*/true), expected.value());
    EXPECT_EQ(tag_string(sc, DCM_PixelSpacing), expected.value());
    for (const auto& out : {seg, sc}) {
      DcmFileFormat f;
      ASSERT_TRUE(f.loadFile(OFFilename(out.c_str())).good());
      auto values = check_dataset_values(*f.getDataset(), out.filename().string());
      EXPECT_TRUE(values.ok()) << values.error().message;
      expect_valid(out);
    }
    // The dicom module's own writer (write_dicom, used by `pneumo synth`) formats the same value.
    const fs::path copy = dir_ / (file.stem().string() + "_copy.dcm");
    DicomMeta meta = src->meta;
    ASSERT_TRUE(write_dicom(copy, meta, src->image, DicomEncoding::kExplicitLittleEndian).ok());
    EXPECT_EQ(tag_string(copy, DCM_PixelSpacing), expected.value());
  }
}

}  // namespace
}  // namespace pneumo
