// write_dicom, checked with DCMTK directly (independent of pneumo's reader): tags, pixels exact for
// explicit little endian and within JPEG tolerance for baseline, byte-identical repeat writes.
#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "pneumo/core/files.hpp"
#include "pneumo/dicom/dicom.hpp"

namespace fs = std::filesystem;
using namespace pneumo;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::path(PNEUMO_BINARY_DIR) / "test-tmp" / "dicom_writer" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

DicomMeta sample_meta(int rows, int cols) {
  DicomMeta m;
  m.sop_class_uid = "1.2.840.10008.5.1.4.1.1.7";
  m.sop_instance_uid = "2.25.123456789012345678901234567890";
  m.study_instance_uid = "2.25.223456789012345678901234567890";
  m.series_instance_uid = "2.25.323456789012345678901234567890";
  m.patient_id = "0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8";
  m.sex = "F";
  m.age_years = 38;
  m.view_position = "PA";
  m.modality = "CR";
  m.body_part = "CHEST";
  m.study_description = "XR CHEST PA";
  m.pixel_spacing_row_mm = 0.143;
  m.pixel_spacing_col_mm = 0.143;
  m.rows = rows;
  m.cols = cols;
  return m;
}

// Smooth content (JPEG-friendly) with an edge, plus seeded low-amplitude noise.
Image8 sample_image(int rows, int cols, std::uint64_t seed) {
  Image8 img(rows, cols);
  std::mt19937_64 rng(seed);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      double v = 40 + 150.0 * c / cols + 30 * std::sin(r * 0.1);
      if ((r - rows / 2) * (r - rows / 2) + (c - cols / 3) * (c - cols / 3) < rows * rows / 16) v += 50;
      v += static_cast<int>(rng() % 5) - 2;
      img.at(r, c) = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
    }
  }
  return img;
}

std::string tag_string(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return "<missing>";
  return value.c_str();
}

void register_decoders() {
  static std::once_flag once;
  std::call_once(once, [] { DJDecoderRegistration::registerCodecs(); });
}

// Loads `path`, decompresses, checks the header and returns the pixels.
Image8 load_with_dcmtk(const fs::path& path, const DicomMeta& meta, E_TransferSyntax expected_xfer) {
  register_decoders();
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good()) << path;
  DcmMetaInfo& mi = *file.getMetaInfo();
  DcmDataset& ds = *file.getDataset();
  EXPECT_EQ(tag_string(mi, DCM_TransferSyntaxUID), DcmXfer(expected_xfer).getXferID());
  EXPECT_EQ(tag_string(mi, DCM_MediaStorageSOPInstanceUID), meta.sop_instance_uid);
  EXPECT_EQ(tag_string(mi, DCM_MediaStorageSOPClassUID), "1.2.840.10008.5.1.4.1.1.7");
  EXPECT_EQ(tag_string(ds, DCM_SOPClassUID), "1.2.840.10008.5.1.4.1.1.7");
  EXPECT_EQ(tag_string(ds, DCM_SOPInstanceUID), meta.sop_instance_uid);  // not re-minted by JPEG
  EXPECT_EQ(tag_string(ds, DCM_StudyInstanceUID), meta.study_instance_uid);
  EXPECT_EQ(tag_string(ds, DCM_SeriesInstanceUID), meta.series_instance_uid);
  EXPECT_EQ(tag_string(ds, DCM_PatientID), meta.patient_id);
  EXPECT_EQ(tag_string(ds, DCM_PatientSex), meta.sex);
  EXPECT_EQ(tag_string(ds, DCM_PatientAge), "038Y");
  EXPECT_EQ(tag_string(ds, DCM_ViewPosition), "PA");
  EXPECT_EQ(tag_string(ds, DCM_SeriesDescription), "view: PA");
  EXPECT_EQ(tag_string(ds, DCM_Modality), "CR");
  EXPECT_EQ(tag_string(ds, DCM_BodyPartExamined), "CHEST");
  EXPECT_EQ(tag_string(ds, DCM_StudyDescription), "XR CHEST PA");
  EXPECT_EQ(tag_string(ds, DCM_ConversionType), "WSD");
  EXPECT_EQ(tag_string(ds, DCM_PhotometricInterpretation), "MONOCHROME2");
  EXPECT_EQ(tag_string(ds, DCM_PixelSpacing), "0.143\\0.143");
  // Nothing time-based that would break byte-identical output.
  EXPECT_FALSE(ds.tagExists(DCM_InstanceCreationDate));
  EXPECT_FALSE(ds.tagExists(DCM_InstanceCreationTime));
  EXPECT_FALSE(ds.tagExists(DCM_SourceImageSequence));
  Uint16 v = 0;
  const std::pair<DcmTagKey, int> numbers[] = {
      {DCM_Rows, meta.rows}, {DCM_Columns, meta.cols}, {DCM_SamplesPerPixel, 1},
      {DCM_BitsAllocated, 8}, {DCM_BitsStored, 8},      {DCM_HighBit, 7},
      {DCM_PixelRepresentation, 0}};
  for (const auto& [tag, expected] : numbers) {
    EXPECT_TRUE(ds.findAndGetUint16(tag, v).good()) << DcmTag(tag).getTagName();
    EXPECT_EQ(v, expected) << DcmTag(tag).getTagName();
  }
  EXPECT_TRUE(ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).good());
  const Uint8* px = nullptr;
  unsigned long count = 0;
  EXPECT_TRUE(ds.findAndGetUint8Array(DCM_PixelData, px, &count).good());
  Image8 out(meta.rows, meta.cols);
  EXPECT_GE(count, out.px.size());
  if (px && count >= out.px.size()) std::copy(px, px + out.px.size(), out.px.begin());
  return out;
}

}  // namespace

TEST(DicomWriter, ExplicitLittleEndianRoundTripIsExact) {
  const fs::path dir = temp_dir("explicit");
  // Odd sizes: an odd pixel count needs a pad byte that must not leak into the pixels.
  DicomMeta meta = sample_meta(/*rows=*/37, /*cols=*/53);
  Image8 img = sample_image(37, 53, /*seed=*/11);
  ASSERT_TRUE(write_dicom(dir / "a.dcm", meta, img, DicomEncoding::kExplicitLittleEndian).ok());
  Image8 back = load_with_dcmtk(dir / "a.dcm", meta, EXS_LittleEndianExplicit);
  EXPECT_EQ(back, img);
}

TEST(DicomWriter, JpegBaselineRoundTripWithinTolerance) {
  const fs::path dir = temp_dir("jpeg");
  DicomMeta meta = sample_meta(/*rows=*/96, /*cols=*/128);
  Image8 img = sample_image(96, 128, /*seed=*/12);
  ASSERT_TRUE(write_dicom(dir / "a.dcm", meta, img, DicomEncoding::kJpegBaseline, 95).ok());
  Image8 back = load_with_dcmtk(dir / "a.dcm", meta, EXS_JPEGProcess1);
  ASSERT_EQ(back.px.size(), img.px.size());
  double sum = 0;
  int worst = 0;
  for (std::size_t i = 0; i < img.px.size(); ++i) {
    int d = std::abs(int(back.px[i]) - int(img.px[i]));
    sum += d;
    worst = std::max(worst, d);
  }
  EXPECT_LE(sum / img.px.size(), 2.0);
  EXPECT_LE(worst, 16);
  // It is really compressed: much smaller than the raw pixels for smooth content.
  EXPECT_LT(fs::file_size(dir / "a.dcm"), img.px.size());
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile((dir / "a.dcm").c_str()).good());
  EXPECT_EQ(tag_string(*file.getDataset(), DCM_LossyImageCompression), "01");
}

TEST(DicomWriter, LowerJpegQualityGivesSmallerFile) {
  const fs::path dir = temp_dir("quality");
  DicomMeta meta = sample_meta(96, 128);
  Image8 img = sample_image(96, 128, /*seed=*/13);
  ASSERT_TRUE(write_dicom(dir / "q95.dcm", meta, img, DicomEncoding::kJpegBaseline, 95).ok());
  ASSERT_TRUE(write_dicom(dir / "q50.dcm", meta, img, DicomEncoding::kJpegBaseline, 50).ok());
  EXPECT_LT(fs::file_size(dir / "q50.dcm"), fs::file_size(dir / "q95.dcm"));
}

TEST(DicomWriter, SameInputsGiveByteIdenticalFiles) {
  const fs::path dir = temp_dir("determinism");
  DicomMeta meta = sample_meta(64, 80);
  Image8 img = sample_image(64, 80, /*seed=*/14);
  for (auto enc : {DicomEncoding::kJpegBaseline, DicomEncoding::kExplicitLittleEndian}) {
    const std::string tag = enc == DicomEncoding::kJpegBaseline ? "jpeg" : "raw";
    ASSERT_TRUE(write_dicom(dir / (tag + "1.dcm"), meta, img, enc).ok());
    // A second later, so that any date/time or time-seeded UID would show up as a difference.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    ASSERT_TRUE(write_dicom(dir / (tag + "2.dcm"), meta, img, enc).ok());
    auto a = read_file(dir / (tag + "1.dcm"));
    auto b = read_file(dir / (tag + "2.dcm"));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b) << tag;
  }
  // Different metadata gives a different file (the comparison above can fail).
  DicomMeta other = meta;
  other.sop_instance_uid = "2.25.99";
  ASSERT_TRUE(write_dicom(dir / "other.dcm", other, img, DicomEncoding::kJpegBaseline).ok());
  EXPECT_NE(*read_file(dir / "other.dcm"), *read_file(dir / "jpeg1.dcm"));
}

TEST(DicomWriter, FormatsAgeFromYearsAndKeepsGivenText) {
  const fs::path dir = temp_dir("age");
  Image8 img = sample_image(16, 16, 15);
  struct Case {
    std::optional<double> years;
    std::string text;
    std::string expected;
  } cases[] = {{38.0, "", "038Y"}, {1.5, "", "018M"}, {85.9, "", "085Y"}, {std::nullopt, "", ""},
               {40.0, "40", "40"}};
  for (const auto& c : cases) {
    DicomMeta meta = sample_meta(16, 16);
    meta.age_years = c.years;
    meta.age_text = c.text;
    ASSERT_TRUE(write_dicom(dir / "a.dcm", meta, img, DicomEncoding::kExplicitLittleEndian).ok());
    DcmFileFormat file;
    ASSERT_TRUE(file.loadFile((dir / "a.dcm").c_str()).good());
    OFString age;
    file.getDataset()->findAndGetOFString(DCM_PatientAge, age);
    EXPECT_EQ(std::string(age.c_str()), c.expected);
  }
}

TEST(DicomWriter, RejectsBadArgumentsWithoutWritingAFile) {
  const fs::path dir = temp_dir("errors");
  Image8 img = sample_image(16, 16, 16);

  DicomMeta wrong_size = sample_meta(16, 17);
  auto st = write_dicom(dir / "a.dcm", wrong_size, img, DicomEncoding::kJpegBaseline);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message.find("16x17"), std::string::npos) << st.error().message;

  DicomMeta bad_uid = sample_meta(16, 16);
  bad_uid.sop_instance_uid = "ID_1234abc";
  st = write_dicom(dir / "a.dcm", bad_uid, img, DicomEncoding::kJpegBaseline);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("SOPInstanceUID"), std::string::npos) << st.error().message;

  DicomMeta long_uid = sample_meta(16, 16);
  long_uid.study_instance_uid = "1." + std::string(63, '1');
  EXPECT_FALSE(write_dicom(dir / "a.dcm", long_uid, img, DicomEncoding::kJpegBaseline).ok());
  DicomMeta leading_zero = sample_meta(16, 16);
  leading_zero.series_instance_uid = "1.2.03";
  EXPECT_FALSE(write_dicom(dir / "a.dcm", leading_zero, img, DicomEncoding::kJpegBaseline).ok());

  DicomMeta ok_meta = sample_meta(16, 16);
  st = write_dicom(dir / "a.dcm", ok_meta, img, DicomEncoding::kJpegBaseline, /*jpeg_quality=*/0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);

  EXPECT_FALSE(fs::exists(dir / "a.dcm"));
  EXPECT_TRUE(fs::is_empty(dir));  // no temp files left behind either
}
