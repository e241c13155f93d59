// Overlays for people: the X-ray in grey, the predicted pneumothorax as a semi-transparent red
// fill with a red contour, an optional ground-truth contour in green, and a caption.
//
//   pneumo::OverlayOptions opt;
//   opt.probability = 0.93f;
//   opt.positive = true;                              // banner "THIS IMAGE CONTAINS PNEUMOTHORAX"
//   pneumo::ImageRgb rgb = pneumo::render_overlay(image, mask, std::nullopt, opt);
//   auto st = pneumo::write_png_rgb("overlays/x.png", rgb);   // atomic
//
// Caption: when positive, a dark red banner across the top (10% of the height, at least 32 rows) with
// "THIS IMAGE CONTAINS PNEUMOTHORAX" and "p = 0.93" in white; when negative, one small line
// "no pneumothorax detected (p = 0.04)" at the bottom left. Text is scaled to the image width, so
// it reads the same at 256 and at 1024 pixels. The burned-in text makes the overlay a derived
// picture for viewing, never an input for further analysis.
//
// Thread-safety: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"  // Bytes
#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo {

// An 8-bit RGB image, interleaved R, G, B per pixel, row-major.
struct ImageRgb {
  int rows = 0;
  int cols = 0;
  std::vector<std::uint8_t> px;  // rows*cols*3 bytes

  ImageRgb() = default;
  ImageRgb(int r, int c, std::uint8_t fill = 0) : rows(r), cols(c), px(static_cast<std::size_t>(r) * c * 3, fill) {}

  bool empty() const { return px.empty(); }
  std::uint8_t* at(int r, int c) { return &px[(static_cast<std::size_t>(r) * cols + c) * 3]; }
  const std::uint8_t* at(int r, int c) const { return &px[(static_cast<std::size_t>(r) * cols + c) * 3]; }
  bool operator==(const ImageRgb&) const = default;
};

struct OverlayOptions {
  float probability = 0.0f;  // P(pneumothorax) for the image, printed as "p = 0.93"
  bool positive = false;     // the image's decision: banner when true, a small line when false
  std::string caption;       // optional extra line (e.g. "model pneumo-siim, not for diagnosis")
};

// Colours used, exposed so tests and documentation agree with the renderer.
inline constexpr std::uint8_t kBannerRgb[3] = {150, 0, 0};
inline constexpr std::uint8_t kPredictionRgb[3] = {255, 0, 0};
inline constexpr std::uint8_t kTruthRgb[3] = {0, 255, 0};
inline constexpr float kFillAlpha = 0.35f;

// Banner height in rows for an image of this size (0 when negative).
int overlay_banner_rows(int rows, int cols);

// requires: image non-empty; predicted (and truth, when given) the same rows x cols as image,
// holding 0/1. Violations are caller bugs (std::invalid_argument).
ImageRgb render_overlay(const Image8& image, const Mask& predicted, const std::optional<Mask>& truth,
                        const OverlayOptions& options);

// The caption text render_overlay burns in, one string per line: positive {"THIS IMAGE CONTAINS
// PNEUMOTHORAX", "p = 0.93[   caption]"}, negative {"no pneumothorax detected (p = 0.04)[  caption]"}.
std::vector<std::string> overlay_caption_lines(const OverlayOptions& options);

// Grey to RGB (R = G = B).
ImageRgb grey_to_rgb(const Image8& image);

// PNG bytes of an RGB image (what write_png_rgb writes). kInvalidArgument when empty or mis-sized.
Result<Bytes> encode_png_rgb(const ImageRgb& image);

// PNG I/O for RGB images; the writer is atomic (temp file + rename).
Status write_png_rgb(const std::filesystem::path& path, const ImageRgb& image);
Result<ImageRgb> read_png_rgb(const std::filesystem::path& path);

}  // namespace pneumo
