#include "pneumo/outputs/overlay.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <stdexcept>

namespace pneumo {
namespace {

Image8 gradient(int rows, int cols) {
  Image8 img(rows, cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) img.at(r, c) = static_cast<std::uint8_t>(40 + (r * 7 + c * 3) % 160);
  }
  return img;
}

Mask rectangle(int rows, int cols, int r0, int r1, int c0, int c1) {
  Mask m(rows, cols);
  for (int r = r0; r < r1; ++r) {
    for (int c = c0; c < c1; ++c) m.at(r, c) = 1;
  }
  return m;
}

bool is_grey(const std::uint8_t* p) { return p[0] == p[1] && p[1] == p[2]; }
bool is_colour(const std::uint8_t* p, const std::uint8_t (&c)[3]) { return p[0] == c[0] && p[1] == c[1] && p[2] == c[2]; }

struct Counts {
  long long banner = 0, white = 0, non_grey = 0;
  int white_min_col = 1 << 30, white_max_col = -1;
};
Counts count_rows(const ImageRgb& img, int r0, int r1) {
  Counts k;
  for (int r = r0; r < r1; ++r) {
    for (int c = 0; c < img.cols; ++c) {
      const std::uint8_t* p = img.at(r, c);
      if (is_colour(p, kBannerRgb)) ++k.banner;
      if (p[0] > 200 && p[1] > 200 && p[2] > 200) {
        ++k.white;
        k.white_min_col = std::min(k.white_min_col, c);
        k.white_max_col = std::max(k.white_max_col, c);
      }
      if (!is_grey(p)) ++k.non_grey;
    }
  }
  return k;
}

TEST(Overlay, FillsPredictionRedBlendedAndLeavesTheRestGrey) {
  const Image8 img = gradient(256, 256);
  const Mask mask = rectangle(256, 256, 100, 160, 60, 120);
  OverlayOptions opt;
  opt.probability = 0.93f;
  opt.positive = true;
  const ImageRgb out = render_overlay(img, mask, std::nullopt, opt);
  ASSERT_EQ(out.rows, 256);
  ASSERT_EQ(out.cols, 256);
  // Interior pixel: exact alpha blend towards (255, 0, 0).
  const std::uint8_t g = img.at(130, 90);
  const std::uint8_t* p = out.at(130, 90);
  EXPECT_EQ(p[0], static_cast<std::uint8_t>(std::lround(g * (1 - kFillAlpha) + 255 * kFillAlpha)));
  EXPECT_EQ(p[1], static_cast<std::uint8_t>(std::lround(g * (1 - kFillAlpha))));
  EXPECT_EQ(p[2], p[1]);
  // The mask's border pixel carries the red contour.
  EXPECT_TRUE(is_colour(out.at(100, 90), kPredictionRgb));
  EXPECT_TRUE(is_colour(out.at(130, 60), kPredictionRgb));
  // Far from mask, banner and footer: untouched grey.
  for (int r = 60; r < 90; ++r) {
    for (int c = 150; c < 250; ++c) {
      ASSERT_TRUE(is_grey(out.at(r, c))) << r << "," << c;
      ASSERT_EQ(out.at(r, c)[0], img.at(r, c)) << r << "," << c;
    }
  }
}

TEST(Overlay, PositiveHasBannerWithTextNegativeHasNone) {
  for (int size : {256, 1024}) {
    SCOPED_TRACE(size);
    const Image8 img = gradient(size, size);
    const Mask mask = rectangle(size, size, size / 2, size / 2 + size / 8, size / 8, size / 4);
    const int banner = overlay_banner_rows(size, size);
    EXPECT_GE(banner, 24);

    OverlayOptions pos;
    pos.positive = true;
    pos.probability = 0.93f;
    const ImageRgb yes = render_overlay(img, mask, std::nullopt, pos);
    const Counts b = count_rows(yes, 0, banner);
    const long long area = static_cast<long long>(banner) * size;
    EXPECT_GT(b.banner, area / 2) << "banner background should cover most of the band";
    EXPECT_GT(b.white, area / 100) << "white caption text expected in the banner";
    // Scaled with the image: the headline spans most of the width, and stays inside it.
    EXPECT_GT(b.white_max_col - b.white_min_col, size / 2);
    EXPECT_GE(b.white_min_col, 1);
    EXPECT_LT(b.white_max_col, size - 1);

    OverlayOptions neg;
    neg.positive = false;
    neg.probability = 0.04f;
    const Mask empty(size, size);
    const ImageRgb no = render_overlay(img, empty, std::nullopt, neg);
    const Counts top = count_rows(no, 0, banner);
    EXPECT_EQ(top.banner, 0);
    EXPECT_EQ(top.non_grey, 0) << "no banner on a negative image";
    // The small footer line: some greenish text pixels near the bottom, less than 10% of the height.
    const Counts footer = count_rows(no, size - size / 10, size);
    EXPECT_GT(footer.non_grey, 20);
    const Counts middle = count_rows(no, banner, size - size / 10);
    EXPECT_EQ(middle.non_grey, 0);
  }
}

TEST(Overlay, TruthContourIsGreen) {
  const Image8 img = gradient(128, 128);
  const Mask pred = rectangle(128, 128, 40, 60, 40, 60);
  const Mask truth = rectangle(128, 128, 70, 100, 70, 100);
  OverlayOptions opt;
  opt.positive = true;
  const ImageRgb out = render_overlay(img, pred, truth, opt);
  EXPECT_TRUE(is_colour(out.at(70, 85), kTruthRgb));
  EXPECT_TRUE(is_colour(out.at(85, 70), kTruthRgb));
  EXPECT_TRUE(is_grey(out.at(85, 85))) << "truth is outlined, not filled";
}

TEST(Overlay, RejectsMismatchedMask) {
  EXPECT_THROW(render_overlay(gradient(64, 64), Mask(64, 32), std::nullopt, {}), std::invalid_argument);
  EXPECT_THROW(render_overlay(gradient(64, 64), Mask(64, 64), Mask(32, 64), {}), std::invalid_argument);
}

TEST(Overlay, PngRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path() / ("pneumo_overlay_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  OverlayOptions opt;
  opt.positive = true;
  opt.probability = 0.5f;
  opt.caption = "test";
  const ImageRgb out = render_overlay(gradient(96, 80), rectangle(96, 80, 30, 50, 10, 30), std::nullopt, opt);
  ASSERT_TRUE(write_png_rgb(dir / "o.png", out).ok());
  auto back = read_png_rgb(dir / "o.png");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), out);
  EXPECT_FALSE(read_png_rgb(dir / "missing.png").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pneumo
