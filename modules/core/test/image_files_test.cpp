#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"
#include "pneumo/core/image_files.hpp"

namespace fs = std::filesystem;
using namespace pneumo;

namespace {

std::vector<unsigned char> png_header(unsigned width, unsigned height, unsigned char colour_type) {
  std::vector<unsigned char> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  for (unsigned v : {width, height}) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<unsigned char>(v >> shift));
  }
  b.push_back(8);            // bit depth
  b.push_back(colour_type);  // 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA
  return b;
}

// SOI, an APP0 segment of `app_bytes` payload bytes, then SOF0 or SOF2 with the given size.
std::vector<unsigned char> jpeg_header(int width, int height, int components, unsigned char sof = 0xC0,
                                       int app_bytes = 14) {
  std::vector<unsigned char> b = {0xFF, 0xD8, 0xFF, 0xE0};
  b.push_back(static_cast<unsigned char>((app_bytes + 2) >> 8));
  b.push_back(static_cast<unsigned char>((app_bytes + 2) & 0xFF));
  b.insert(b.end(), static_cast<std::size_t>(app_bytes), 0);
  b.insert(b.end(), {0xFF, sof, 0, static_cast<unsigned char>(8 + 3 * components), 8});
  b.push_back(static_cast<unsigned char>(height >> 8));
  b.push_back(static_cast<unsigned char>(height & 0xFF));
  b.push_back(static_cast<unsigned char>(width >> 8));
  b.push_back(static_cast<unsigned char>(width & 0xFF));
  b.push_back(static_cast<unsigned char>(components));
  return b;
}

}  // namespace

TEST(ImageFiles, PngSizeFromHandWrittenHeader) {
  auto grey = png_header(1024, 768, 0);
  auto s = read_image_size(grey.data(), grey.size(), "a.png");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->rows, 768);
  EXPECT_EQ(s->cols, 1024);
  EXPECT_EQ(s->channels, 1);
  auto rgba = png_header(3, 5, 6);
  EXPECT_EQ(read_image_size(rgba.data(), rgba.size(), "b.png")->channels, 4);
  auto bad_type = png_header(3, 5, 5);
  EXPECT_FALSE(read_image_size(bad_type.data(), bad_type.size(), "c.png"));
  auto zero = png_header(0, 5, 0);
  auto z = read_image_size(zero.data(), zero.size(), "z.png");
  ASSERT_FALSE(z);
  EXPECT_NE(z.error().message.find("z.png"), std::string::npos);
}

TEST(ImageFiles, JpegSizeFromHandWrittenHeader) {
  auto baseline = jpeg_header(1024, 1000, 1);
  auto s = read_image_size(baseline.data(), baseline.size(), "a.jpg");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->rows, 1000);
  EXPECT_EQ(s->cols, 1024);
  EXPECT_EQ(s->channels, 1);
  auto progressive = jpeg_header(640, 480, 3, 0xC2, /*app_bytes=*/3000);  // frame header after a large APPn
  auto p = read_image_size(progressive.data(), progressive.size(), "p.jpg");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->rows, 480);
  EXPECT_EQ(p->channels, 3);
}

TEST(ImageFiles, TruncatedOrForeignBytesAreClearErrors) {
  auto baseline = jpeg_header(1024, 1000, 1);
  for (std::size_t keep : {std::size_t{3}, std::size_t{10}, baseline.size() - 3}) {
    auto r = read_image_size(baseline.data(), keep, "cut.jpg");
    ASSERT_FALSE(r) << keep;
    EXPECT_NE(r.error().message.find("cut.jpg"), std::string::npos);
  }
  const std::string dicom_ish(200, 'D');
  auto r = read_image_size(reinterpret_cast<const unsigned char*>(dicom_ish.data()), dicom_ish.size(), "x.dcm");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a PNG or JPEG"), std::string::npos);
  EXPECT_FALSE(read_image_size(fs::path("/nonexistent/pneumo/x.png")));
}

TEST(ImageFiles, AgreesWithTheDecoderOnRealFiles) {
  const fs::path dir = fs::temp_directory_path() / "pneumo_image_files_test";
  fs::create_directories(dir);
  Image8 img(37, 53);
  for (std::size_t i = 0; i < img.px.size(); ++i) img.px[i] = static_cast<std::uint8_t>(i * 7);
  ASSERT_TRUE(write_png(dir / "x.png", img));
  auto s = read_image_size(dir / "x.png");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->rows, 37);
  EXPECT_EQ(s->cols, 53);
  fs::remove_all(dir);

  // Real SIIM JPEG exports, when the shared data is present: the header parser and OpenCV's
  // decoder must agree on every file's size.
  const fs::path jpgs = fs::path(PNEUMO_SHARED_DATA) / "siim" / "jpg-positive";
  if (!fs::exists(jpgs)) GTEST_SKIP() << "no " << jpgs << "; the synthetic PNG case ran";
  auto files = list_files(jpgs, {".jpg"});
  ASSERT_TRUE(files);
  ASSERT_GT(files->size(), 0u);
  for (std::size_t i = 0; i < files->size(); i += 97) {
    auto header = read_image_size((*files)[i]);
    auto decoded = read_png_gray((*files)[i]);
    ASSERT_TRUE(header && decoded) << (*files)[i];
    EXPECT_EQ(header->rows, decoded->rows);
    EXPECT_EQ(header->cols, decoded->cols);
  }
}
