#include <gtest/gtest.h>

#include "pneumo/transforms/resize.hpp"

namespace pneumo {
namespace {

TEST(Resize, ImageDownscaleAveragesBlocks) {
  // 4x4 blocks of a 16x16 image each hold one value; 4x downscale must give exactly that value.
  Image8 img(16, 16);
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) img.at(r, c) = static_cast<std::uint8_t>((r / 4) * 40 + (c / 4) * 10);
  const Image8 small = resize_image(img, 4, 4);
  ASSERT_EQ(small.rows, 4);
  ASSERT_EQ(small.cols, 4);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_EQ(small.at(r, c), r * 40 + c * 10);

  // A 2x2 checkerboard of 0/200 averages to 100 (nearest neighbour would give 0 or 200).
  Image8 checker(8, 8);
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) checker.at(r, c) = (r + c) % 2 ? 200 : 0;
  for (auto v : resize_image(checker, 4, 4).px) EXPECT_EQ(v, 100);
}

TEST(Resize, ImageUpscaleAndSameSize) {
  Image8 img(3, 5, 77);
  const Image8 big = resize_image(img, 9, 10);
  EXPECT_EQ(big.rows, 9);
  EXPECT_EQ(big.cols, 10);
  for (auto v : big.px) EXPECT_EQ(v, 77);
  EXPECT_EQ(resize_image(img, 3, 5), img);
}

TEST(Resize, MaskThresholdsCoverageAtHalf) {
  // 8x8 -> 2x2: each output pixel covers a 4x4 block. Blocks with 8, 7, 16, 0 set pixels.
  Mask m(8, 8);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 4; ++c) m.at(r, c) = 1;  // block (0,0): 8 of 16 -> 0.5 -> 1
  for (int i = 0; i < 7; ++i) m.at(i / 4, 4 + i % 4) = 1;  // block (0,1): 7 of 16 -> 0
  for (int r = 4; r < 8; ++r)
    for (int c = 0; c < 4; ++c) m.at(r, c) = 1;  // block (1,0): full -> 1
  const Mask s = resize_mask(m, 2, 2);
  EXPECT_EQ(s.at(0, 0), 1);
  EXPECT_EQ(s.at(0, 1), 0);
  EXPECT_EQ(s.at(1, 0), 1);
  EXPECT_EQ(s.at(1, 1), 0);
}

TEST(Resize, MaskAreaIsPreservedAndStaysBinary) {
  // A disc of radius 300 in 1024^2 keeps its area fraction within 1% at 256^2.
  Mask m(1024, 1024);
  long long area = 0;
  for (int r = 0; r < 1024; ++r)
    for (int c = 0; c < 1024; ++c) {
      const int dr = r - 500, dc = c - 480;
      if (dr * dr + dc * dc <= 300 * 300) {
        m.at(r, c) = 1;
        ++area;
      }
    }
  const Mask s = resize_mask(m, 256, 256);
  for (auto v : s.px) ASSERT_LE(v, 1);
  EXPECT_NEAR(count_nonzero(s) * 16.0 / area, 1.0, 0.01);
}

TEST(Resize, TinyPositiveMaskStaysPositive) {
  Mask m(1024, 1024);
  m.at(100, 200) = 1;  // one pixel: 1/16 coverage at 256^2, below the threshold
  m.at(100, 201) = 1;
  const Mask s = resize_mask(m, 256, 256);
  EXPECT_EQ(count_nonzero(s), 1);
  EXPECT_EQ(s.at(25, 50), 1);
  EXPECT_EQ(count_nonzero(resize_mask(Mask(1024, 1024), 256, 256)), 0);
}

}  // namespace
}  // namespace pneumo
