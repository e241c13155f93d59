// render_overlay and RGB PNG I/O (OpenCV stays in here).
#include "pneumo/outputs/overlay.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"

namespace pneumo {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_DUPLEX;

void require_same_size(const Image8& image, const Mask& mask, const char* what) {
  if (mask.rows != image.rows || mask.cols != image.cols ||
      mask.px.size() != static_cast<std::size_t>(image.rows) * image.cols) {
    throw std::invalid_argument(std::string("render_overlay: ") + what + " is " + std::to_string(mask.rows) + "x" +
                                std::to_string(mask.cols) + ", the image " + std::to_string(image.rows) + "x" +
                                std::to_string(image.cols));
  }
}

// cv::Mat views over our buffers (no copies); OpenCV draws in the channel order we give it, so
// colours are passed as (R, G, B) and the Mat simply holds RGB.
cv::Mat rgb_view(ImageRgb& img) { return cv::Mat(img.rows, img.cols, CV_8UC3, img.px.data()); }
cv::Mat mask_view_255(const Mask& m) {
  cv::Mat out(m.rows, m.cols, CV_8UC1);
  for (std::size_t i = 0; i < m.px.size(); ++i) out.data[i] = m.px[i] ? 255 : 0;
  return out;
}
cv::Scalar colour(const std::uint8_t (&c)[3]) { return cv::Scalar(c[0], c[1], c[2]); }

int line_thickness(int rows, int cols) { return std::max(1, static_cast<int>(std::lround(std::min(rows, cols) / 256.0))); }

void draw_contours(cv::Mat& rgb, const Mask& mask, const cv::Scalar& c, int thickness) {
  cv::Mat m = mask_view_255(mask);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(m, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
  cv::drawContours(rgb, contours, -1, c, thickness, cv::LINE_8);
}

// Largest font scale (<= max_scale) at which `text` is at most max_width wide and max_height tall.
double fit_scale(const std::string& text, int thickness, int max_width, int max_height, double max_scale) {
  int baseline = 0;
  cv::Size at_one = cv::getTextSize(text, kFont, 1.0, thickness, &baseline);
  double s = std::min(max_scale, static_cast<double>(max_width) / std::max(1, at_one.width));
  s = std::min(s, static_cast<double>(max_height) / std::max(1, at_one.height + baseline));
  return std::max(s, 0.2);
}

std::string format_probability(float p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "p = %.2f", static_cast<double>(p));
  return buf;
}

void put_text(cv::Mat& rgb, const std::string& text, cv::Point origin, double scale, int thickness,
              const cv::Scalar& c) {
  cv::putText(rgb, text, origin, kFont, scale, c, thickness, cv::LINE_AA);
}

void draw_positive_banner(cv::Mat& rgb, const OverlayOptions& options) {
  const int rows = rgb.rows, cols = rgb.cols;
  const int banner = overlay_banner_rows(rows, cols);
  cv::rectangle(rgb, cv::Rect(0, 0, cols, banner), colour(kBannerRgb), cv::FILLED);
  const int thickness = std::max(1, static_cast<int>(std::lround(cols / 512.0)));
  const int margin = std::max(2, cols / 64);
  const std::vector<std::string> lines = overlay_caption_lines(options);
  const std::string& headline = lines[0];
  const std::string& second = lines[1];
  // Two lines in the banner: the headline (width-limited at small sizes) and the probability.
  const double s1 = fit_scale(headline, thickness, cols - 2 * margin, static_cast<int>(banner * 0.45), 3.0);
  const double s2 = fit_scale(second, thickness, cols - 2 * margin, static_cast<int>(banner * 0.36), s1);
  int base1 = 0, base2 = 0;
  const cv::Size t1 = cv::getTextSize(headline, kFont, s1, thickness, &base1);
  const cv::Size t2 = cv::getTextSize(second, kFont, s2, thickness, &base2);
  const int gap = std::max(2, banner / 16);
  const int total = t1.height + base1 + gap + t2.height + base2;
  const int top = std::max(0, (banner - total) / 2);
  const int line1 = top + t1.height;                        // baseline of the headline
  const int line2 = line1 + base1 + gap + t2.height;        // baseline of the probability line
  const cv::Scalar white(255, 255, 255);
  put_text(rgb, headline, cv::Point((cols - t1.width) / 2, line1), s1, thickness, white);
  put_text(rgb, second, cv::Point((cols - t2.width) / 2, line2), s2, thickness, white);
}

void draw_negative_line(cv::Mat& rgb, const OverlayOptions& options) {
  const int rows = rgb.rows, cols = rgb.cols;
  const std::string text = overlay_caption_lines(options).front();
  const int thickness = 1;
  const int margin = std::max(2, cols / 64);
  // Small: about 3.5% of the height, and never wider than 70% of the image.
  const double scale = fit_scale(text, thickness, static_cast<int>(cols * 0.70),
                                 std::max(8, static_cast<int>(rows * 0.035)), 2.0);
  int baseline = 0;
  cv::Size t = cv::getTextSize(text, kFont, scale, thickness, &baseline);
  const int pad = std::max(2, t.height / 3);
  cv::Rect box(margin - pad, rows - margin - t.height - baseline - pad, t.width + 2 * pad,
               t.height + baseline + 2 * pad);
  box &= cv::Rect(0, 0, cols, rows);
  // Darken the strip behind the text so it reads on bright and dark film alike.
  cv::Mat roi = rgb(box);
  roi.convertTo(roi, -1, 0.35, 0);
  put_text(rgb, text, cv::Point(margin, rows - margin - baseline), scale, thickness, cv::Scalar(170, 255, 170));
}

}  // namespace

int overlay_banner_rows(int rows, int cols) {
  (void)cols;
  return std::max(32, static_cast<int>(std::lround(rows * 0.10)));
}

ImageRgb grey_to_rgb(const Image8& image) {
  ImageRgb out(image.rows, image.cols);
  for (std::size_t i = 0; i < image.px.size(); ++i) {
    out.px[3 * i] = out.px[3 * i + 1] = out.px[3 * i + 2] = image.px[i];
  }
  return out;
}

ImageRgb render_overlay(const Image8& image, const Mask& predicted, const std::optional<Mask>& truth,
                        const OverlayOptions& options) {
  if (image.empty() || image.px.size() != static_cast<std::size_t>(image.rows) * image.cols) {
    throw std::invalid_argument("render_overlay: empty or inconsistent image");
  }
  require_same_size(image, predicted, "the predicted mask");
  if (truth) require_same_size(image, *truth, "the truth mask");

  ImageRgb out = grey_to_rgb(image);
  // Fill: blend towards pure red inside the prediction.
  for (std::size_t i = 0; i < predicted.px.size(); ++i) {
    if (!predicted.px[i]) continue;
    for (int ch = 0; ch < 3; ++ch) {
      const float v = out.px[3 * i + ch] * (1.0f - kFillAlpha) + kPredictionRgb[ch] * kFillAlpha;
      out.px[3 * i + ch] = static_cast<std::uint8_t>(std::lround(v));
    }
  }
  cv::Mat rgb = rgb_view(out);
  const int thickness = line_thickness(image.rows, image.cols);
  if (truth) draw_contours(rgb, *truth, colour(kTruthRgb), thickness);
  draw_contours(rgb, predicted, colour(kPredictionRgb), thickness);
  if (options.positive) {
    draw_positive_banner(rgb, options);
  } else {
    draw_negative_line(rgb, options);
  }
  return out;
}

std::vector<std::string> overlay_caption_lines(const OverlayOptions& options) {
  if (options.positive) {
    std::string second = format_probability(options.probability);
    if (!options.caption.empty()) second += "   " + options.caption;
    return {"THIS IMAGE CONTAINS PNEUMOTHORAX", second};
  }
  std::string text = "no pneumothorax detected (" + format_probability(options.probability) + ")";
  if (!options.caption.empty()) text += "  " + options.caption;
  return {text};
}

Result<Bytes> encode_png_rgb(const ImageRgb& image) {
  if (image.empty() || image.px.size() != static_cast<std::size_t>(image.rows) * image.cols * 3) {
    return fail(ErrorCode::kInvalidArgument, "RGB image is empty or not rows*cols*3 bytes");
  }
  cv::Mat bgr;
  cv::cvtColor(cv::Mat(image.rows, image.cols, CV_8UC3, const_cast<std::uint8_t*>(image.px.data())), bgr,
               cv::COLOR_RGB2BGR);
  Bytes bytes;
  if (!cv::imencode(".png", bgr, bytes)) return fail(ErrorCode::kInternal, "PNG encoding failed");
  return bytes;
}

Status write_png_rgb(const std::filesystem::path& path, const ImageRgb& image) {
  auto bytes = encode_png_rgb(image);
  if (!bytes) return fail(bytes.error().code, path.string() + ": " + bytes.error().message);
  return write_file_atomic(path, *bytes);
}

Result<ImageRgb> read_png_rgb(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  const auto& b = bytes.value();
  cv::Mat decoded = cv::imdecode(cv::Mat(1, static_cast<int>(b.size()), CV_8UC1, const_cast<char*>(b.data())),
                                 cv::IMREAD_COLOR);
  if (decoded.empty()) return fail(ErrorCode::kBadInput, path.string() + ": not a readable PNG/JPEG image");
  cv::Mat rgb;
  cv::cvtColor(decoded, rgb, cv::COLOR_BGR2RGB);
  ImageRgb out(rgb.rows, rgb.cols);
  for (int r = 0; r < rgb.rows; ++r) {
    std::copy(rgb.ptr<std::uint8_t>(r), rgb.ptr<std::uint8_t>(r) + rgb.cols * 3, out.at(r, 0));
  }
  return out;
}

}  // namespace pneumo
