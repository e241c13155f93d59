#include "gallery.hpp"

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"

namespace pneumo::detail {
namespace {

cv::Mat wrap(const Image8& img) { return cv::Mat(img.rows, img.cols, CV_8UC1, const_cast<std::uint8_t*>(img.px.data())); }

void draw_contour(cv::Mat& canvas, const Mask& mask, int scale, const cv::Scalar& colour) {
  if (count_nonzero(mask) == 0) return;
  cv::Mat binary = wrap(mask) > 0;  // 0/255
  if (scale > 1) cv::resize(binary, binary, cv::Size(), scale, scale, cv::INTER_NEAREST);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(binary, contours, cv::RETR_LIST, cv::CHAIN_APPROX_NONE);
  cv::drawContours(canvas, contours, /*contourIdx=*/-1, colour, /*thickness=*/std::max(1, scale / 2 + 1));
}

}  // namespace

Status write_overlay_png(const std::filesystem::path& png, const Image8& image, const Mask& truth,
                         const Mask& predicted) {
  const int short_side = std::min(image.rows, image.cols);
  const int scale = short_side >= 256 ? 1 : (256 + short_side - 1) / short_side;
  cv::Mat grey = wrap(image);
  if (scale > 1) cv::resize(grey, grey, cv::Size(), scale, scale, cv::INTER_LINEAR);
  cv::Mat canvas;
  cv::cvtColor(grey, canvas, cv::COLOR_GRAY2BGR);
  draw_contour(canvas, truth, scale, cv::Scalar(0, 200, 0));    // BGR green: truth
  draw_contour(canvas, predicted, scale, cv::Scalar(0, 0, 255));  // BGR red: prediction
  std::vector<std::uint8_t> bytes;
  if (!cv::imencode(".png", canvas, bytes)) {
    return fail(ErrorCode::kIo, png.string() + ": PNG encoding failed");
  }
  return write_file_atomic(png, bytes);
}

}  // namespace pneumo::detail
