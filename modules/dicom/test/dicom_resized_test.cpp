// Tests for read_dicom_resized: decode straight to a target size.
//
// Two independent oracles:
//  - "full": read_dicom (itself tested against DCMTK's IJG decoder in dicom_reader_test) followed
//    by OpenCV's INTER_AREA in this file. The DCT-scaled JPEG path must stay close to it; every
//    other path must equal it exactly.
//  - "reduced": the frame's JPEG bytes, taken out of the file with DCMTK here, decoded by OpenCV's
//    own imdecode with IMREAD_REDUCED_GRAYSCALE_2/4/8 (OpenCV drives libjpeg's scale_denom
//    itself). When no further resize is needed the result must match it pixel for pixel, which
//    shows that the DCT-domain reduction was really taken.
#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <vector>

#include "pneumo/dicom/dicom.hpp"

namespace fs = std::filesystem;
using pneumo::DicomEncoding;
using pneumo::ErrorCode;
using pneumo::Image8;

namespace {

const fs::path kShared = PNEUMO_SHARED_DATA;

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("pneumo_dicom_resized_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// Chest-film-like content: smooth gradient, two bright blobs, a sharp-edged dark rectangle (the
// worst case for DCT scaling: ringing at edges) and seeded noise.
Image8 phantom(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 6.0);
  Image8 img(rows, cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double y = static_cast<double>(r) / rows;
      const double x = static_cast<double>(c) / cols;
      double v = 40 + 120 * y + 30 * x;
      v += 80 * std::exp(-((x - 0.3) * (x - 0.3) + (y - 0.4) * (y - 0.4)) / 0.02);
      v += 60 * std::exp(-((x - 0.7) * (x - 0.7) + (y - 0.6) * (y - 0.6)) / 0.01);
      if (x > 0.55 && x < 0.8 && y > 0.1 && y < 0.3) v = 15;
      img.at(r, c) = static_cast<std::uint8_t>(std::clamp(v + noise(rng), 0.0, 255.0));
    }
  }
  return img;
}

pneumo::DicomMeta meta_for(const Image8& img, const std::string& uid) {
  pneumo::DicomMeta m;
  m.sop_instance_uid = uid;
  m.sop_class_uid = "1.2.840.10008.5.1.4.1.1.7";
  m.study_instance_uid = uid + ".1";
  m.series_instance_uid = uid + ".2";
  m.modality = "CR";
  m.rows = img.rows;
  m.cols = img.cols;
  return m;
}

fs::path write(const Image8& img, DicomEncoding encoding, const std::string& name) {
  const fs::path path = temp_dir() / name;
  const auto st = pneumo::write_dicom(path, meta_for(img, "1.2.826.0.1.3680043.10.998." + std::to_string(img.rows)),
                                      img, encoding, /*jpeg_quality=*/90);
  EXPECT_TRUE(st.ok()) << st.error().message;
  return path;
}

// A copy of `source` whose PhotometricInterpretation says MONOCHROME1; the pixel data (JPEG or
// not) is kept byte for byte: DCMTK writes the original representation back.
fs::path as_monochrome1(const fs::path& source, const std::string& name) {
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(source.c_str()).good());
  DcmDataset* ds = file.getDataset();
  EXPECT_TRUE(ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME1").good());
  const fs::path path = temp_dir() / name;
  EXPECT_TRUE(file.saveFile(path.c_str(), ds->getOriginalXfer()).good());
  return path;
}

// The single frame's JPEG bytes, fragments joined.
std::vector<std::uint8_t> jpeg_frame_of(const fs::path& path) {
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good());
  DcmDataset* ds = file.getDataset();
  DcmElement* element = nullptr;
  EXPECT_TRUE(ds->findAndGetElement(DCM_PixelData, element).good());
  auto* pixels = dynamic_cast<DcmPixelData*>(element);
  const DcmRepresentationParameter* param = nullptr;
  DcmPixelSequence* seq = nullptr;
  std::vector<std::uint8_t> out;
  if (pixels == nullptr || pixels->getEncapsulatedRepresentation(ds->getOriginalXfer(), param, seq).bad()) {
    ADD_FAILURE() << path << ": no encapsulated pixel data";
    return out;
  }
  for (unsigned long i = 1; i < seq->card(); ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* bytes = nullptr;
    EXPECT_TRUE(seq->getItem(item, i).good() && item->getUint8Array(bytes).good());
    out.insert(out.end(), bytes, bytes + item->getLength());
  }
  return out;
}

Image8 from_mat(const cv::Mat& m) {
  EXPECT_EQ(m.type(), CV_8UC1);
  Image8 out(m.rows, m.cols);
  for (int r = 0; r < m.rows; ++r) std::copy_n(m.ptr<std::uint8_t>(r), m.cols, out.px.data() + static_cast<size_t>(r) * m.cols);
  return out;
}

// Oracle "reduced": OpenCV decodes the frame at 1/denom, then inverts when asked.
Image8 opencv_reduced(const fs::path& path, int denom, bool invert) {
  const std::vector<std::uint8_t> frame = jpeg_frame_of(path);
  const int flag = denom == 2 ? cv::IMREAD_REDUCED_GRAYSCALE_2
                   : denom == 4 ? cv::IMREAD_REDUCED_GRAYSCALE_4
                                : cv::IMREAD_REDUCED_GRAYSCALE_8;
  cv::Mat m = cv::imdecode(frame, flag);
  EXPECT_FALSE(m.empty()) << path;
  if (invert) m = 255 - m;
  return from_mat(m);
}

// Oracle "full": read_dicom, then OpenCV's area average (bilinear when enlarging).
Image8 full_then_resize(const fs::path& path, int rows, int cols) {
  auto d = pneumo::read_dicom(path);
  EXPECT_TRUE(d.ok()) << d.error().message;
  if (!d.ok()) return {};
  if (d->image.rows == rows && d->image.cols == cols) return d->image;
  const bool shrinking = rows <= d->image.rows && cols <= d->image.cols;
  cv::Mat src(d->image.rows, d->image.cols, CV_8UC1, d->image.px.data());
  cv::Mat dst;
  cv::resize(src, dst, cv::Size(cols, rows), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return from_mat(dst);
}

struct Difference {
  double mean_abs = 0;
  int max_abs = 0;
};

Difference difference(const Image8& a, const Image8& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  Difference d;
  if (a.px.size() != b.px.size() || a.px.empty()) return {1e9, 255};
  long long sum = 0;
  for (size_t i = 0; i < a.px.size(); ++i) {
    const int diff = std::abs(static_cast<int>(a.px[i]) - static_cast<int>(b.px[i]));
    sum += diff;
    d.max_abs = std::max(d.max_abs, diff);
  }
  d.mean_abs = static_cast<double>(sum) / static_cast<double>(a.px.size());
  return d;
}

// Bounds for the DCT-scaled path against full decode + INTER_AREA. The mean is what matters for
// training; the maximum is reached at sharp edges (the phantom's rectangle, rib edges), where the
// reduced IDCT rings a little where a box average does not.
constexpr double kMaxMeanAbsDiff = 1.5;
constexpr int kMaxAbsDiff = 24;

struct Case {
  int target_rows;
  int target_cols;
  int denom;  // the reduction read_dicom_resized is expected to pick (1 = full decode)
};

}  // namespace

TEST(DicomResized, JpegPicksTheLargestReductionThatCoversTheTarget) {
  const Image8 img = phantom(/*rows=*/256, /*cols=*/192, /*seed=*/7);  // not square
  const fs::path path = write(img, DicomEncoding::kJpegBaseline, "phantom_jpeg.dcm");
  const std::vector<Case> cases = {
      {128, 96, 2}, {64, 48, 4}, {32, 24, 8},   // exactly 1/2, 1/4, 1/8: no resize after the decode
      {100, 70, 2},                             // 1/4 would give 64x48 < 100x70
      {120, 48, 2},                             // rows decide
      {20, 10, 8},                              // below 1/8: 32x24 then area
      {200, 150, 1}, {256, 100, 1},             // no reduction fits: full decode + area
      {300, 250, 1},                            // enlarging: full decode + bilinear
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.target_rows) + "x" + std::to_string(c.target_cols));
    auto d = pneumo::read_dicom_resized(path, c.target_rows, c.target_cols);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->image.rows, c.target_rows);
    EXPECT_EQ(d->image.cols, c.target_cols);
    ASSERT_EQ(d->image.px.size(), static_cast<size_t>(c.target_rows) * c.target_cols);
    EXPECT_EQ(d->meta.rows, 256);  // meta describes the file
    EXPECT_EQ(d->meta.cols, 192);
    const Image8 full = full_then_resize(path, c.target_rows, c.target_cols);
    if (c.denom == 1) {
      EXPECT_EQ(d->image, full);
      continue;
    }
    const Difference diff = difference(d->image, full);
    EXPECT_LT(diff.mean_abs, kMaxMeanAbsDiff);
    EXPECT_LE(diff.max_abs, kMaxAbsDiff);
    if (c.target_rows * c.denom == 256 && c.target_cols * c.denom == 192) {
      EXPECT_EQ(d->image, opencv_reduced(path, c.denom, /*invert=*/false));
      EXPECT_NE(d->image, full) << "identical to the full decode: was the DCT reduction taken?";
    } else {
      // The reduced decode followed by an area resize, computed here from OpenCV's reduced decode.
      const Image8 reduced = opencv_reduced(path, c.denom, /*invert=*/false);
      cv::Mat src(reduced.rows, reduced.cols, CV_8UC1, const_cast<std::uint8_t*>(reduced.px.data()));
      cv::Mat dst;
      cv::resize(src, dst, cv::Size(c.target_cols, c.target_rows), 0, 0, cv::INTER_AREA);
      EXPECT_EQ(d->image, from_mat(dst));
    }
  }
}

TEST(DicomResized, ReductionMustDivideTheStoredSize) {
  // libjpeg rounds a partial 8x8 block up (101 rows -> 51 at 1/2), which would shift the geometry,
  // so a reduction is used only when it divides Rows and Columns.
  struct SizeCase {
    int rows, cols;  // stored
    Case target;
  };
  const std::vector<SizeCase> cases = {
      {101, 77, {50, 38, 1}},   // odd: no reduction at all, exactly full decode + area
      {100, 76, {13, 10, 4}},   // divisible by 4, not by 8: 25x19, then area to 13x10
      {100, 76, {25, 19, 4}},   // exactly 1/4
      {100, 76, {50, 38, 2}},   // exactly 1/2
      {96, 72, {12, 9, 8}},     // divisible by 8
  };
  for (const SizeCase& sc : cases) {
    const Case& c = sc.target;
    SCOPED_TRACE(std::to_string(sc.rows) + "x" + std::to_string(sc.cols) + " -> " + std::to_string(c.target_rows) +
                 "x" + std::to_string(c.target_cols));
    const Image8 img = phantom(sc.rows, sc.cols, /*seed=*/11);
    const fs::path path = write(img, DicomEncoding::kJpegBaseline,
                                "size_" + std::to_string(sc.rows) + "x" + std::to_string(sc.cols) + ".dcm");
    auto d = pneumo::read_dicom_resized(path, c.target_rows, c.target_cols);
    ASSERT_TRUE(d.ok()) << d.error().message;
    ASSERT_EQ(d->image.rows, c.target_rows);
    ASSERT_EQ(d->image.cols, c.target_cols);
    const Image8 full = full_then_resize(path, c.target_rows, c.target_cols);
    if (c.denom == 1) {
      EXPECT_EQ(d->image, full);
      continue;
    }
    const Image8 reduced = opencv_reduced(path, c.denom, /*invert=*/false);
    ASSERT_EQ(reduced.rows, sc.rows / c.denom);
    ASSERT_EQ(reduced.cols, sc.cols / c.denom);
    if (reduced.rows == c.target_rows && reduced.cols == c.target_cols) {
      EXPECT_EQ(d->image, reduced);
    } else {
      cv::Mat src(reduced.rows, reduced.cols, CV_8UC1, const_cast<std::uint8_t*>(reduced.px.data()));
      cv::Mat dst;
      cv::resize(src, dst, cv::Size(c.target_cols, c.target_rows), 0, 0, cv::INTER_AREA);
      EXPECT_EQ(d->image, from_mat(dst));
    }
    const Difference diff = difference(d->image, full);
    EXPECT_LT(diff.mean_abs, kMaxMeanAbsDiff);
    EXPECT_LE(diff.max_abs, kMaxAbsDiff);
  }
}

TEST(DicomResized, JpegMonochrome1StaysInverted) {
  const Image8 img = phantom(/*rows=*/128, /*cols=*/160, /*seed=*/3);
  const fs::path mono2 = write(img, DicomEncoding::kJpegBaseline, "mono2_jpeg.dcm");
  const fs::path mono1 = as_monochrome1(mono2, "mono1_jpeg.dcm");
  auto d1 = pneumo::read_dicom_resized(mono1, 64, 80);
  auto d2 = pneumo::read_dicom_resized(mono2, 64, 80);
  ASSERT_TRUE(d1.ok()) << d1.error().message;
  ASSERT_TRUE(d2.ok()) << d2.error().message;
  EXPECT_EQ(d1->meta.photometric, "MONOCHROME1");
  EXPECT_EQ(d1->image, opencv_reduced(mono1, 2, /*invert=*/true));
  ASSERT_EQ(d1->image.px.size(), d2->image.px.size());
  for (size_t i = 0; i < d1->image.px.size(); ++i) ASSERT_EQ(d1->image.px[i], 255 - d2->image.px[i]) << i;
  // Also through a further area resize: inversion before or after the resize may differ by a
  // rounding step, never more.
  auto s1 = pneumo::read_dicom_resized(mono1, 50, 60);
  ASSERT_TRUE(s1.ok());
  const Difference diff = difference(s1->image, full_then_resize(mono1, 50, 60));
  EXPECT_LT(diff.mean_abs, kMaxMeanAbsDiff);
  // Dark stays dark: the phantom's dark rectangle (rows 13..38, cols 88..128 at 128x160) is bright.
  EXPECT_GT(d1->image.at(12, 52), 200);
}

TEST(DicomResized, UncompressedEqualsFullDecodeThenAreaResizeExactly) {
  const Image8 img = phantom(/*rows=*/200, /*cols=*/150, /*seed=*/5);
  const fs::path mono2 = write(img, DicomEncoding::kExplicitLittleEndian, "phantom_le.dcm");
  const fs::path mono1 = as_monochrome1(mono2, "phantom_le_mono1.dcm");
  for (const fs::path& path : {mono2, mono1}) {
    for (const Case& c : std::vector<Case>{{100, 75, 1}, {64, 64, 1}, {37, 29, 1}, {200, 150, 1}, {256, 180, 1}}) {
      SCOPED_TRACE(path.filename().string() + " " + std::to_string(c.target_rows) + "x" + std::to_string(c.target_cols));
      auto d = pneumo::read_dicom_resized(path, c.target_rows, c.target_cols);
      ASSERT_TRUE(d.ok()) << d.error().message;
      EXPECT_EQ(d->image, full_then_resize(path, c.target_rows, c.target_cols));
      EXPECT_EQ(d->meta.rows, 200);
      EXPECT_EQ(d->meta.cols, 150);
    }
  }
  // Independent of OpenCV: 2x2 box averages of the stored values (INTER_AREA at exactly 1/2
  // rounds the average of four to nearest), inverted for MONOCHROME1.
  auto half = pneumo::read_dicom_resized(mono1, 100, 75);
  ASSERT_TRUE(half.ok());
  for (int r = 0; r < 100; ++r) {
    for (int c = 0; c < 75; ++c) {
      const int sum = img.at(2 * r, 2 * c) + img.at(2 * r, 2 * c + 1) + img.at(2 * r + 1, 2 * c) +
                      img.at(2 * r + 1, 2 * c + 1);
      const int expected = 255 - (sum + 2) / 4;
      ASSERT_LE(std::abs(half->image.at(r, c) - expected), 1) << r << "," << c;
    }
  }
}

TEST(DicomResized, ErrorsAreValues) {
  const Image8 img = phantom(32, 32, 1);
  const fs::path path = write(img, DicomEncoding::kJpegBaseline, "small.dcm");
  auto zero = pneumo::read_dicom_resized(path, 0, 16);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(zero.error().message.find("0x16"), std::string::npos) << zero.error().message;
  auto missing = pneumo::read_dicom_resized(temp_dir() / "missing.dcm", 16, 16);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

// ---- real data ------------------------------------------------------------------------------

namespace {

std::vector<fs::path> first_dicoms(const fs::path& dir, size_t count) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".dcm") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.size() > count) files.resize(count);
  return files;
}

}  // namespace

#define REQUIRE_SHARED(sub)                                                          \
  if (!fs::exists(kShared / (sub))) {                                                \
    GTEST_SKIP() << "real data not found at " << (kShared / (sub)) << " - skipping"; \
  }

TEST(DicomResizedRealData, SiimJpegCloseToFullDecodeAndEqualToOpenCvReduced) {
  REQUIRE_SHARED("siim/dicom");
  // 8 of the 47 files keep this well under a second.
  for (const fs::path& path : first_dicoms(kShared / "siim/dicom", 8)) {
    for (const Case& c : std::vector<Case>{{512, 512, 2}, {256, 256, 4}, {384, 384, 2}}) {
      SCOPED_TRACE(path.filename().string() + " -> " + std::to_string(c.target_rows));
      auto d = pneumo::read_dicom_resized(path, c.target_rows, c.target_cols);
      ASSERT_TRUE(d.ok()) << d.error().message;
      ASSERT_EQ(d->image.rows, c.target_rows);
      ASSERT_EQ(d->image.cols, c.target_cols);
      EXPECT_EQ(d->meta.rows, 1024);
      EXPECT_EQ(d->meta.cols, 1024);
      const Difference diff = difference(d->image, full_then_resize(path, c.target_rows, c.target_cols));
      EXPECT_LT(diff.mean_abs, kMaxMeanAbsDiff);
      if (c.target_rows * c.denom == 1024) {
        // One resampling step on both sides: the DCT reduction and a box average agree closely
        // (measured on all 47 files: mean 0.14 at 512, 0.06 at 256, maximum 5).
        EXPECT_LT(diff.mean_abs, 0.3);
        EXPECT_LE(diff.max_abs, 8);
        EXPECT_EQ(d->image, opencv_reduced(path, c.denom, /*invert=*/false));
      } else {
        // 1024 -> 512 (DCT) -> 384 (area) against 1024 -> 384 (area): two resampling steps against
        // one differ by up to ~50 at burned-in letters, with or without DCT scaling. Against the
        // same two steps done with box averages only, the DCT reduction must stay close.
        EXPECT_LE(diff.max_abs, 64);
        const Image8 area_512 = full_then_resize(path, 512, 512);
        cv::Mat src(512, 512, CV_8UC1, const_cast<std::uint8_t*>(area_512.px.data()));
        cv::Mat dst;
        cv::resize(src, dst, cv::Size(c.target_cols, c.target_rows), 0, 0, cv::INTER_AREA);
        const Difference two_step = difference(d->image, from_mat(dst));
        EXPECT_LT(two_step.mean_abs, 0.3);
        EXPECT_LE(two_step.max_abs, 8);
      }
    }
  }
}

TEST(DicomResizedRealData, FakeMonochrome1IsTheInvertedSiimImage) {
  REQUIRE_SHARED("other_dicom");
  const fs::path fake = kShared / "other_dicom/torchxrayvision_Fake_MONOHR1.dcm";
  auto d = pneumo::read_dicom_resized(fake, 512, 512);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->meta.photometric, "MONOCHROME1");
  const fs::path original = kShared / "siim/dicom" / (d->meta.sop_instance_uid + ".dcm");
  // The fake is a SIIM image of siim/dicom (same SOPInstanceUID): with the data present, a missing
  // original means the reader returned the wrong UID, a failure, not a reason to skip.
  ASSERT_TRUE(fs::exists(original)) << "no SIIM file named after the UID the reader returned: " << original;
  auto o = pneumo::read_dicom_resized(original, 512, 512);
  ASSERT_TRUE(o.ok()) << o.error().message;
  ASSERT_EQ(o->image.px.size(), d->image.px.size());
  for (size_t i = 0; i < o->image.px.size(); ++i) ASSERT_EQ(d->image.px[i], 255 - o->image.px[i]) << i;
}

TEST(DicomResizedRealData, OtherKindsEqualFullDecodeThenResize) {
  REQUIRE_SHARED("other_dicom");
  for (const char* name : {"dwv_gdcm-CR-MONO1-10-chest.dcm", "dwv_leadtools-flowers-8-mono2-rle_NONCXR.dcm",
                           "dwv_nema-ct1_jpll_NONCXR.dcm"}) {
    const fs::path path = kShared / "other_dicom" / name;
    if (!fs::exists(path)) {
      ADD_FAILURE() << "missing " << path;
      continue;
    }
    auto meta = pneumo::read_dicom_meta(path);
    ASSERT_TRUE(meta.ok()) << meta.error().message;
    for (const Case& c : std::vector<Case>{{meta->rows / 2, meta->cols / 2, 1}, {100, 90, 1}}) {
      SCOPED_TRACE(std::string(name) + " -> " + std::to_string(c.target_rows) + "x" + std::to_string(c.target_cols));
      auto d = pneumo::read_dicom_resized(path, c.target_rows, c.target_cols);
      ASSERT_TRUE(d.ok()) << d.error().message;
      EXPECT_EQ(d->image, full_then_resize(path, c.target_rows, c.target_cols));
    }
  }
}
