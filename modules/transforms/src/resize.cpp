#include "pneumo/transforms/resize.hpp"

#include <algorithm>
#include <cassert>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace pneumo {
namespace {

cv::Mat wrap(const Image8& img) {
  return cv::Mat(img.rows, img.cols, CV_8UC1, const_cast<std::uint8_t*>(img.px.data()));
}

}  // namespace

Image8 resize_image(const Image8& image, int rows, int cols) {
  assert(rows > 0 && cols > 0 && !image.empty());
  if (image.rows == rows && image.cols == cols) return image;
  const bool shrinking = rows <= image.rows && cols <= image.cols;
  Image8 out(rows, cols);
  cv::Mat dst(rows, cols, CV_8UC1, out.px.data());
  cv::resize(wrap(image), dst, cv::Size(cols, rows), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

Mask resize_mask(const Mask& mask, int rows, int cols) {
  assert(rows > 0 && cols > 0 && !mask.empty());
  if (mask.rows == rows && mask.cols == cols) return mask;
  // Coverage in [0, 1] per output pixel (area average when shrinking, bilinear when enlarging).
  cv::Mat src;
  wrap(mask).convertTo(src, CV_32F);
  const bool shrinking = rows <= mask.rows && cols <= mask.cols;
  cv::Mat coverage;
  cv::resize(src, coverage, cv::Size(cols, rows), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  Mask out(rows, cols);
  float best = 0.0f;
  for (int r = 0; r < rows; ++r) {
    const float* p = coverage.ptr<float>(r);
    for (int c = 0; c < cols; ++c) {
      // 0.5 - 1e-6: a pixel exactly half covered counts, despite float rounding of the average.
      out.at(r, c) = p[c] >= 0.5f - 1e-6f ? 1 : 0;
      best = std::max(best, p[c]);
    }
  }
  if (best > 0.0f && count_nonzero(out) == 0) {  // a tiny lesion stays positive
    for (int r = 0; r < rows; ++r) {
      const float* p = coverage.ptr<float>(r);
      for (int c = 0; c < cols; ++c) out.at(r, c) = p[c] >= best - 1e-6f ? 1 : 0;
    }
  }
  return out;
}

}  // namespace pneumo
