// build_cache on tiny DICOMs written here with DCMTK (independent of pneumo's own DICOM writer).
#include <gtest/gtest.h>
#include <unistd.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pneumo/core/files.hpp"
#include "pneumo/pipeline/cache.hpp"
#include "pneumo/transforms/resize.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

constexpr int kRows = 64;  // non-square, so a row/column mix-up cannot pass
constexpr int kCols = 48;
constexpr int kSize = 32;

// 8-bit MONOCHROME2 explicit little endian; pixels span 0..255 so min-max windowing is identity.
void write_test_dicom(const fs::path& path, const Image8& img, const std::string& uid) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, uid.c_str());
  ds->putAndInsertString(DCM_StudyInstanceUID, (uid + ".1").c_str());
  ds->putAndInsertString(DCM_SeriesInstanceUID, (uid + ".2").c_str());
  ds->putAndInsertString(DCM_Modality, "OT");
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(img.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(img.cols));
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds->putAndInsertUint8Array(DCM_PixelData, img.px.data(), static_cast<unsigned long>(img.px.size()));
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good()) << path;
}

Image8 test_image(int seed) {
  Image8 img(kRows, kCols);
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kCols; ++c) img.at(r, c) = static_cast<std::uint8_t>((r * 4 + c * 3 + seed * 17) % 256);
  img.at(0, 0) = 0;
  img.at(kRows - 1, kCols - 1) = 255;
  return img;
}

struct Rect {
  int r0, r1, c0, c1;  // [r0, r1) x [c0, c1)
};

// Independent SIIM relative RLE encoder for a rectangle: column-major, (gap, length) pairs.
std::string rect_rle(const Rect& rect) {
  std::string out;
  long long end_of_previous = 0;
  for (int c = rect.c0; c < rect.c1; ++c) {
    const long long start = static_cast<long long>(c) * kRows + rect.r0;
    out += (out.empty() ? "" : " ") + std::to_string(start - end_of_previous) + " " + std::to_string(rect.r1 - rect.r0);
    end_of_previous = start + (rect.r1 - rect.r0);
  }
  return out;
}

Mask rect_mask(const std::vector<Rect>& rects) {
  Mask m(kRows, kCols);
  for (const Rect& rect : rects)
    for (int r = rect.r0; r < rect.r1; ++r)
      for (int c = rect.c0; c < rect.c1; ++c) m.at(r, c) = 1;
  return m;
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("pneumo_cache_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "dicom");
    for (int i = 0; i < 3; ++i) write_test_dicom(dicom(i), test_image(i), "1.2.3.4." + std::to_string(i));
    sources_ = {
        {"img0", dicom(0), {rect_rle(kRect0)}},
        {"img1", dicom(1), {"-1"}},
        {"img2", dicom(2), {rect_rle(kRect2a), " " + rect_rle(kRect2b)}},  // two rows: union
    };
    options_ = {.cache_dir = root_ / "cache", .size = kSize, .threads = 2, .show_progress = false};
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path dicom(int i) const { return root_ / "dicom" / ("f" + std::to_string(i) + ".dcm"); }
  static fs::file_time_type mtime(const fs::path& p) { return fs::last_write_time(p); }

  static constexpr Rect kRect0{8, 24, 4, 20};
  static constexpr Rect kRect2a{30, 60, 10, 16};
  static constexpr Rect kRect2b{40, 44, 14, 40};  // overlaps kRect2a
  fs::path root_;
  std::vector<SampleSource> sources_;
  CacheOptions options_;
};

TEST_F(CacheTest, WritesResizedImagesAndMasks) {
  auto built = build_cache(sources_, options_);
  ASSERT_TRUE(built.ok()) << built.error().message;
  for (const auto& e : built->errors) ADD_FAILURE() << e.message;
  ASSERT_EQ(built->entries.size(), 3u);
  EXPECT_EQ(built->stats.built, 3);
  EXPECT_EQ(built->stats.reused, 0);
  const std::vector<Mask> full_masks = {rect_mask({kRect0}), rect_mask({}), rect_mask({kRect2a, kRect2b})};
  for (int i = 0; i < 3; ++i) {
    const CacheEntry& e = built->entries[i];
    EXPECT_EQ(e.image_id, "img" + std::to_string(i));
    EXPECT_EQ(e.image_png, root_ / "cache" / "32" / ("img" + std::to_string(i) + ".png"));
    EXPECT_EQ(e.mask_png, root_ / "cache" / "32" / ("img" + std::to_string(i) + "_mask.png"));
    EXPECT_EQ(e.source_rows, kRows);
    EXPECT_EQ(e.source_cols, kCols);
    auto img = read_png_gray(e.image_png);
    auto mask = read_png_gray(e.mask_png);
    ASSERT_TRUE(img.ok() && mask.ok());
    EXPECT_EQ(img->rows, kSize);
    EXPECT_EQ(img->cols, kSize);
    EXPECT_EQ(*img, resize_image(test_image(i), kSize, kSize));
    Mask expected = resize_mask(full_masks[i], kSize, kSize);
    EXPECT_EQ(e.mask_pixels, count_nonzero(expected));
    EXPECT_EQ(e.positive, i != 1);
    for (auto& v : expected.px) v = v ? 255 : 0;
    EXPECT_EQ(*mask, expected) << "mask of img" << i;
  }
  // Geometry check that does not rely on resize_mask: kRect0 rows 8..24 of 64 -> 4..12 of 32.
  auto m0 = read_png_gray(built->entries[0].mask_png);
  EXPECT_EQ(m0->at(8, 5), 255);
  EXPECT_EQ(m0->at(3, 5), 0);
  EXPECT_EQ(m0->at(12, 5), 0);
  EXPECT_TRUE(fs::exists(built->manifest_path));
}

TEST_F(CacheTest, SecondRunReusesAndChangedSourceRebuildsOnlyItself) {
  auto first = build_cache(sources_, options_);
  ASSERT_TRUE(first.ok());
  const auto t0 = mtime(first->entries[0].image_png);
  const auto t1 = mtime(first->entries[1].image_png);
  const auto t2 = mtime(first->entries[2].mask_png);

  auto second = build_cache(sources_, options_);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->stats.reused, 3);
  EXPECT_EQ(second->stats.built, 0);
  EXPECT_EQ(mtime(second->entries[0].image_png), t0);
  EXPECT_EQ(second->entries[2].mask_pixels, first->entries[2].mask_pixels);

  // Touch img1's DICOM (mtime moves) and change img2's labels.
  fs::last_write_time(dicom(1), fs::last_write_time(dicom(1)) + std::chrono::seconds(5));
  sources_[2].rle_rows = {rect_rle(kRect2a)};
  auto third = build_cache(sources_, options_);
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->stats.built, 2);
  EXPECT_EQ(third->stats.reused, 1);
  EXPECT_EQ(mtime(third->entries[0].image_png), t0);
  EXPECT_NE(mtime(third->entries[1].image_png), t1);
  EXPECT_NE(mtime(third->entries[2].mask_png), t2);
  EXPECT_LT(third->entries[2].mask_pixels, first->entries[2].mask_pixels);  // one rectangle fewer

  // A deleted PNG is rebuilt even though the fingerprint matches.
  fs::remove(third->entries[0].mask_png);
  auto fourth = build_cache(sources_, options_);
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(fourth->stats.built, 1);
  EXPECT_TRUE(fs::exists(third->entries[0].mask_png));
}

TEST_F(CacheTest, BadSourcesAreReportedAndSkipped) {
  std::ofstream(root_ / "dicom" / "junk.dcm") << "not a dicom file";
  sources_.push_back({"junk", root_ / "dicom" / "junk.dcm", {"-1"}});
  sources_.push_back({"missing", root_ / "dicom" / "nope.dcm", {"-1"}});
  sources_.push_back({"badrle", dicom(0), {"3070 5"}});  // run ends at 3075, past the 3072-pixel 64x48 mask
  sources_.push_back({"img0", dicom(1), {"-1"}});        // duplicate id
  sources_.push_back({"../evil", dicom(1), {"-1"}});
  auto built = build_cache(sources_, options_);
  ASSERT_TRUE(built.ok()) << built.error().message;
  EXPECT_EQ(built->entries.size(), 3u);
  EXPECT_EQ(built->stats.failed, 5);
  ASSERT_EQ(built->errors.size(), 5u);
  const std::vector<std::string> prefixes = {"junk: ", "missing: ", "badrle: ", "img0: ", "../evil: "};
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    EXPECT_EQ(built->errors[i].message.rfind(prefixes[i], 0), 0u) << built->errors[i].message;
  }
  EXPECT_NE(built->errors[1].message.find("nope.dcm"), std::string::npos);
  EXPECT_NE(built->errors[2].message.find("RLE row 1"), std::string::npos) << built->errors[2].message;
  EXPECT_EQ(built->errors[3].message.find("duplicate") != std::string::npos, true);
  EXPECT_FALSE(fs::exists(root_ / "cache" / "32" / "junk.png"));
  // The duplicate did not evict the first img0 from the manifest.
  auto again = build_cache({sources_[0]}, options_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->stats.reused, 1);
}

TEST_F(CacheTest, CorruptManifestRebuildsEverything) {
  ASSERT_TRUE(build_cache(sources_, options_).ok());
  ASSERT_TRUE(write_file_atomic(root_ / "cache" / "32" / "manifest.json", "{ not json").ok());
  auto built = build_cache(sources_, options_);
  ASSERT_TRUE(built.ok());
  EXPECT_TRUE(built->stats.manifest_reset);
  EXPECT_EQ(built->stats.built, 3);
  auto manifest = nlohmann::json::parse(*read_file(built->manifest_path));
  EXPECT_EQ(manifest["entries"].size(), 3u);
  EXPECT_EQ(manifest["entries"]["img2"]["rle_hash"], rle_rows_hash(sources_[2].rle_rows));
}

TEST(CacheHash, RowOrderAndEmptyRowsDoNotMatterContentDoes) {
  EXPECT_EQ(rle_rows_hash({"1 2", "5 6"}), rle_rows_hash({"5 6", " 1 2", "-1"}));
  EXPECT_NE(rle_rows_hash({"1 2", "5 6"}), rle_rows_hash({"1 25 6"}));
  EXPECT_NE(rle_rows_hash({"1 2"}), rle_rows_hash({"1 3"}));
  EXPECT_EQ(rle_rows_hash({}), rle_rows_hash({"-1"}));
  EXPECT_EQ(rle_rows_hash({}).size(), 16u);
}

TEST(CacheRealData, RealSiimDicomDecodesAndResizes) {
  const fs::path dir = fs::path(PNEUMO_SHARED_DATA) / "siim" / "dicom";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "real SIIM DICOMs not found at " << dir << "; skipping";
  auto files = list_files(dir, {".dcm"});
  ASSERT_TRUE(files.ok() && !files->empty());
  const fs::path cache = fs::temp_directory_path() / ("pneumo_cache_real_" + std::to_string(::getpid()));
  auto built = build_cache({{"real0", files->front(), {"-1"}}}, {.cache_dir = cache, .size = 256, .threads = 1, .show_progress = false});
  ASSERT_TRUE(built.ok()) << built.error().message;
  ASSERT_EQ(built->entries.size(), 1u) << (built->errors.empty() ? "" : built->errors[0].message);
  EXPECT_EQ(built->entries[0].source_rows, 1024);
  auto img = read_png_gray(built->entries[0].image_png);
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->rows, 256);
  EXPECT_EQ(img->cols, 256);
  fs::remove_all(cache);
}

}  // namespace
}  // namespace pneumo
