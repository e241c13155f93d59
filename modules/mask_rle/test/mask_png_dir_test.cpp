// CSV -> PNG directory -> CSV, as `pneumo rle decode/encode` run it.
#include "pneumo/mask_rle/mask_png_dir.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "pneumo/core/files.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(PNEUMO_BINARY_DIR) / "mask_rle_test_tmp" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

LabelCsvOptions size_3x4() {
  LabelCsvOptions o;
  o.rows = 3;
  o.cols = 4;
  return o;
}

TEST(MaskPngDir, DecodeWritesOnePngPerImageAndEncodeRestoresTheLabels) {
  const fs::path dir = fresh_dir("roundtrip");
  // Unsorted ids, a union of two rows, a duplicate row and a negative.
  ASSERT_TRUE(write_file_atomic(dir / "in.csv",
                                "ImageId, EncodedPixels\n"
                                "z, 1 2\n"
                                "m,-1\n"
                                "z, 6 1\n"
                                "z, 1 2\n"
                                "a, 0 12\n")
                  .ok());
  auto decoded = decode_label_csv_to_pngs(dir / "in.csv", dir / "png", size_3x4(), /*threads=*/3,
                                          /*show_progress=*/false);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->images, 3);
  EXPECT_EQ(decoded->positive_images, 2);
  EXPECT_EQ(decoded->negative_images, 1);
  EXPECT_EQ(decoded->rows, 5);
  EXPECT_EQ(decoded->duplicate_rows, 1);

  auto z = read_png_gray(dir / "png" / "z.png");
  ASSERT_TRUE(z.ok()) << z.error().message;
  Image8 expected_z(3, 4);
  // Row "1 2": pixels 1,2 = (1,0),(2,0). Row "6 1" is its own encoding, so its first gap is an
  // offset from 0: pixel 6 = (row 0, col 2).
  expected_z.at(1, 0) = expected_z.at(2, 0) = expected_z.at(0, 2) = 255;
  EXPECT_EQ(*z, expected_z);
  auto m = read_png_gray(dir / "png" / "m.png");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, Image8(3, 4));
  auto a = read_png_gray(dir / "png" / "a.png");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, Image8(3, 4, 255));

  auto encoded = encode_pngs_to_label_csv(dir / "png", dir / "out.csv", RleFormat::kRelative, 2, false);
  ASSERT_TRUE(encoded.ok()) << encoded.error().message;
  EXPECT_EQ(encoded->images, 3);
  EXPECT_EQ(encoded->positive_images, 2);
  EXPECT_EQ(encoded->rows, 3);
  EXPECT_EQ(encoded->cols, 4);
  auto text = read_file(dir / "out.csv");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "ImageId,EncodedPixels\na,0 12\nm,-1\nz,1 2 3 1\n");

  auto absolute = encode_pngs_to_label_csv(dir / "png", dir / "abs.csv", RleFormat::kAbsolute, 1, false);
  ASSERT_TRUE(absolute.ok());
  EXPECT_EQ(read_file(dir / "abs.csv").value(), "ImageId,EncodedPixels\na,1 12\nm,-1\nz,2 2 7 1\n");
}

TEST(MaskPngDir, BadCsvWritesNothingAndNamesTheLine) {
  const fs::path dir = fresh_dir("badcsv");
  ASSERT_TRUE(write_file_atomic(dir / "in.csv", "a,-1\nb, 0 99\n").ok());
  auto r = decode_label_csv_to_pngs(dir / "in.csv", dir / "png", size_3x4(), 2, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("in.csv:2: EncodedPixels: run ends at pixel 99"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(fs::exists(dir / "png"));
}

TEST(MaskPngDir, ImageIdWithPathSeparatorIsRejected) {
  const fs::path dir = fresh_dir("badid");
  ASSERT_TRUE(write_file_atomic(dir / "in.csv", "a,-1\n../evil,-1\n").ok());
  auto r = decode_label_csv_to_pngs(dir / "in.csv", dir / "png", size_3x4(), 1, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kBadInput);
  EXPECT_NE(r.error().message.find("in.csv:2: ImageId"), std::string::npos) << r.error().message;
}

TEST(MaskPngDir, EncodeRejectsMixedSizesAndEmptyDirs) {
  const fs::path dir = fresh_dir("mixed");
  auto empty = encode_pngs_to_label_csv(dir, dir / "out.csv", RleFormat::kRelative, 1, false);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(write_png(dir / "a.png", Image8(3, 4)).ok());
  ASSERT_TRUE(write_png(dir / "b.png", Image8(4, 3)).ok());
  auto mixed = encode_pngs_to_label_csv(dir, dir / "out.csv", RleFormat::kRelative, 1, false);
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.error().code, ErrorCode::kBadInput);
  EXPECT_NE(mixed.error().message.find("b.png: mask is 3x4 but a.png is 4x3"), std::string::npos)
      << mixed.error().message;
  EXPECT_FALSE(fs::exists(dir / "out.csv"));
}

}  // namespace
}  // namespace pneumo
