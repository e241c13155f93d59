// The augmentation ops. OpenCV stays in this file; images are wrapped, not copied, as cv::Mat.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <numbers>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "pneumo/transforms/augment.hpp"
#include "pneumo/transforms/random.hpp"

namespace pneumo {
namespace {

cv::Mat wrap(Image8& img) { return cv::Mat(img.rows, img.cols, CV_8UC1, img.px.data()); }

Image8 from_mat(const cv::Mat& m) {
  assert(m.type() == CV_8UC1);
  Image8 out(m.rows, m.cols);
  cv::Mat dst(m.rows, m.cols, CV_8UC1, out.px.data());
  m.copyTo(dst);
  return out;
}

int cv_border(BorderMode mode) {
  return mode == BorderMode::kConstant ? cv::BORDER_CONSTANT : cv::BORDER_REFLECT_101;
}

// Applies the same sampling maps to image (bilinear) and mask (nearest).
void remap_both(Image8& image, Mask& mask, const cv::Mat& map_x, const cv::Mat& map_y, BorderMode border) {
  cv::Mat img_out, mask_out;
  cv::remap(wrap(image), img_out, map_x, map_y, cv::INTER_LINEAR, cv_border(border), cv::Scalar(0));
  cv::remap(wrap(mask), mask_out, map_x, map_y, cv::INTER_NEAREST, cv_border(border), cv::Scalar(0));
  image = from_mat(img_out);
  mask = from_mat(mask_out);
}

void apply_lut(Image8& image, const std::uint8_t (&lut)[256]) {
  for (auto& v : image.px) v = lut[v];
}

std::uint8_t saturate(double v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// --- geometric -----------------------------------------------------------------------------

void hflip(Image8& image, Mask& mask) {
  for (Image8* img : {&image, &mask}) {
    for (int r = 0; r < img->rows; ++r) {
      auto row = img->px.begin() + static_cast<std::ptrdiff_t>(r) * img->cols;
      std::reverse(row, row + img->cols);
    }
  }
}

void random_resized_crop(Image8& image, Mask& mask, const RandomResizedCropOp& op, std::mt19937_64& rng) {
  const int rows = image.rows, cols = image.cols;
  const int out_rows = op.out_rows > 0 ? op.out_rows : rows;
  const int out_cols = op.out_cols > 0 ? op.out_cols : cols;
  const double area = static_cast<double>(rows) * cols;
  int h = rows, w = cols, top = 0, left = 0;
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * uniform(rng, op.scale_min, op.scale_max);
    const double ratio = std::exp(uniform(rng, std::log(op.ratio_min), std::log(op.ratio_max)));
    const int cw = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int ch = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (cw > 0 && ch > 0 && cw <= cols && ch <= rows) {
      h = ch;
      w = cw;
      top = static_cast<int>(uniform_index(rng, static_cast<std::uint64_t>(rows - ch + 1)));
      left = static_cast<int>(uniform_index(rng, static_cast<std::uint64_t>(cols - cw + 1)));
      found = true;
    }
  }
  if (!found) {  // centre crop with the ratio clamped into range (torchvision's fallback)
    const double in_ratio = static_cast<double>(cols) / rows;
    if (in_ratio < op.ratio_min) {
      w = cols;
      h = std::max(1, static_cast<int>(std::lround(w / op.ratio_min)));
    } else if (in_ratio > op.ratio_max) {
      h = rows;
      w = std::max(1, static_cast<int>(std::lround(h * op.ratio_max)));
    }
    h = std::min(h, rows);
    w = std::min(w, cols);
    top = (rows - h) / 2;
    left = (cols - w) / 2;
  }
  const cv::Rect roi(left, top, w, h);
  cv::Mat img_out, mask_out;
  cv::resize(wrap(image)(roi), img_out, cv::Size(out_cols, out_rows), 0, 0, cv::INTER_LINEAR);
  cv::resize(wrap(mask)(roi), mask_out, cv::Size(out_cols, out_rows), 0, 0, cv::INTER_NEAREST);
  image = from_mat(img_out);
  mask = from_mat(mask_out);
}

void shift_scale_rotate(Image8& image, Mask& mask, const ShiftScaleRotateOp& op, std::mt19937_64& rng) {
  const double angle = uniform(rng, -op.rotate_limit, op.rotate_limit);
  const double scale = 1.0 + uniform(rng, -op.scale_limit, op.scale_limit);
  const double dx = uniform(rng, -op.shift_limit, op.shift_limit);
  const double dy = uniform(rng, -op.shift_limit, op.shift_limit);
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(image.cols / 2.0f, image.rows / 2.0f), angle, scale);
  m.at<double>(0, 2) += dx * image.cols;
  m.at<double>(1, 2) += dy * image.rows;
  const cv::Size size(image.cols, image.rows);
  cv::Mat img_out, mask_out;
  cv::warpAffine(wrap(image), img_out, m, size, cv::INTER_LINEAR, cv_border(op.border), cv::Scalar(0));
  cv::warpAffine(wrap(mask), mask_out, m, size, cv::INTER_NEAREST, cv_border(op.border), cv::Scalar(0));
  image = from_mat(img_out);
  mask = from_mat(mask_out);
}

cv::Mat smooth_noise_field(int rows, int cols, double sigma, double alpha, std::mt19937_64& rng) {
  cv::Mat field(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r) {
    float* p = field.ptr<float>(r);
    for (int c = 0; c < cols; ++c) p[c] = static_cast<float>(uniform(rng, -1.0, 1.0));
  }
  if (sigma > 0) cv::GaussianBlur(field, field, cv::Size(0, 0), sigma, sigma, cv::BORDER_REFLECT_101);
  field *= alpha;
  return field;
}

void elastic(Image8& image, Mask& mask, const ElasticOp& op, std::mt19937_64& rng) {
  const int rows = image.rows, cols = image.cols;
  const cv::Mat dx = smooth_noise_field(rows, cols, op.sigma, op.alpha, rng);
  const cv::Mat dy = smooth_noise_field(rows, cols, op.sigma, op.alpha, rng);
  cv::Mat map_x(rows, cols, CV_32F), map_y(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r) {
    const float* px = dx.ptr<float>(r);
    const float* py = dy.ptr<float>(r);
    float* mx = map_x.ptr<float>(r);
    float* my = map_y.ptr<float>(r);
    for (int c = 0; c < cols; ++c) {
      mx[c] = static_cast<float>(c) + px[c];
      my[c] = static_cast<float>(r) + py[c];
    }
  }
  remap_both(image, mask, map_x, map_y, op.border);
}

// One axis of the grid distortion: the axis is cut into num_steps cells; cell i of n pixels
// samples source coordinates prev .. prev + n * steps[i] (linearly, end excluded), so
// steps of exactly 1 give the identity (albumentations' linspace includes the end point and
// stretches every cell by one pixel even then).
std::vector<float> grid_axis(int length, int num_steps, const std::vector<double>& steps) {
  std::vector<float> out(static_cast<size_t>(length), 0.0f);
  double prev = 0;
  for (int idx = 0; idx < num_steps; ++idx) {
    const int start = static_cast<int>(static_cast<long long>(idx) * length / num_steps);
    const int end = static_cast<int>(static_cast<long long>(idx + 1) * length / num_steps);
    const int n = end - start;
    const double cur = prev + n * steps[static_cast<size_t>(idx)];
    for (int i = 0; i < n; ++i) {
      out[static_cast<size_t>(start + i)] = static_cast<float>(prev + (cur - prev) * i / n);
    }
    prev = cur;
  }
  return out;
}

void grid_distortion(Image8& image, Mask& mask, const GridDistortionOp& op, std::mt19937_64& rng) {
  const int rows = image.rows, cols = image.cols;
  std::vector<double> xsteps(static_cast<size_t>(op.num_steps)), ysteps(xsteps.size());
  for (auto& s : xsteps) s = 1.0 + uniform(rng, -op.distort_limit, op.distort_limit);
  for (auto& s : ysteps) s = 1.0 + uniform(rng, -op.distort_limit, op.distort_limit);
  const std::vector<float> xx = grid_axis(cols, op.num_steps, xsteps);
  const std::vector<float> yy = grid_axis(rows, op.num_steps, ysteps);
  cv::Mat map_x(rows, cols, CV_32F), map_y(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r) {
    float* mx = map_x.ptr<float>(r);
    float* my = map_y.ptr<float>(r);
    for (int c = 0; c < cols; ++c) {
      mx[c] = xx[static_cast<size_t>(c)];
      my[c] = yy[static_cast<size_t>(r)];
    }
  }
  remap_both(image, mask, map_x, map_y, op.border);
}

// Same maps as cv::initUndistortRectifyMap(K, {k, k, 0, 0, 0}, I, K) with fx = cols, fy = rows.
void optical_distortion(Image8& image, Mask& mask, const OpticalDistortionOp& op, std::mt19937_64& rng) {
  const int rows = image.rows, cols = image.cols;
  const double k = uniform(rng, -op.distort_limit, op.distort_limit);
  const double dx = uniform(rng, -op.shift_limit, op.shift_limit) * cols;
  const double dy = uniform(rng, -op.shift_limit, op.shift_limit) * rows;
  const double fx = cols, fy = rows;
  const double cx = cols * 0.5 + dx, cy = rows * 0.5 + dy;
  cv::Mat map_x(rows, cols, CV_32F), map_y(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r) {
    float* mx = map_x.ptr<float>(r);
    float* my = map_y.ptr<float>(r);
    const double y = (r - cy) / fy;
    for (int c = 0; c < cols; ++c) {
      const double x = (c - cx) / fx;
      const double r2 = x * x + y * y;
      const double radial = 1.0 + k * r2 + k * r2 * r2;
      mx[c] = static_cast<float>(x * radial * fx + cx);
      my[c] = static_cast<float>(y * radial * fy + cy);
    }
  }
  remap_both(image, mask, map_x, map_y, op.border);
}

// --- photometric ---------------------------------------------------------------------------

void clahe(Image8& image, const ClaheOp& op, std::mt19937_64& rng) {
  const double clip = uniform(rng, op.clip_min, op.clip_max);
  auto filter = cv::createCLAHE(clip, cv::Size(op.tile_grid, op.tile_grid));
  cv::Mat out;
  filter->apply(wrap(image), out);
  out.copyTo(wrap(image));
}

void brightness(Image8& image, const BrightnessOp& op, std::mt19937_64& rng) {
  const double beta = uniform(rng, -op.limit, op.limit) * 255.0;
  std::uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = saturate(v + beta);
  apply_lut(image, lut);
}

void contrast(Image8& image, const ContrastOp& op, std::mt19937_64& rng) {
  const double alpha = 1.0 + uniform(rng, -op.limit, op.limit);
  double sum = 0;
  for (auto v : image.px) sum += v;
  const double mean = image.px.empty() ? 0.0 : sum / static_cast<double>(image.px.size());
  std::uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = saturate((v - mean) * alpha + mean);
  apply_lut(image, lut);
}

void gamma(Image8& image, const GammaOp& op, std::mt19937_64& rng) {
  const double g = uniform(rng, op.gamma_min, op.gamma_max);
  std::uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = saturate(255.0 * std::pow(v / 255.0, g));
  apply_lut(image, lut);
}

}  // namespace

void augment(Image8& image, Mask& mask, const AugmentConfig& cfg, std::mt19937_64& rng) {
  assert(image.rows == mask.rows && image.cols == mask.cols);
  if (image.empty()) return;

  if (bernoulli(rng, cfg.hflip.p)) hflip(image, mask);
  if (bernoulli(rng, cfg.random_resized_crop.p)) random_resized_crop(image, mask, cfg.random_resized_crop, rng);
  if (bernoulli(rng, cfg.shift_scale_rotate.p)) shift_scale_rotate(image, mask, cfg.shift_scale_rotate, rng);

  if (cfg.distortion_one_of_p > 0) {
    const bool apply = bernoulli(rng, cfg.distortion_one_of_p);
    const double w[3] = {cfg.elastic.p, cfg.grid_distortion.p, cfg.optical_distortion.p};
    const double total = w[0] + w[1] + w[2];
    const double pick = uniform01(rng) * total;  // drawn even when not applied: stable stream
    if (apply && total > 0) {
      if (pick < w[0]) {
        elastic(image, mask, cfg.elastic, rng);
      } else if (pick < w[0] + w[1]) {
        grid_distortion(image, mask, cfg.grid_distortion, rng);
      } else {
        optical_distortion(image, mask, cfg.optical_distortion, rng);
      }
    }
  } else {
    if (bernoulli(rng, cfg.elastic.p)) elastic(image, mask, cfg.elastic, rng);
    if (bernoulli(rng, cfg.grid_distortion.p)) grid_distortion(image, mask, cfg.grid_distortion, rng);
    if (bernoulli(rng, cfg.optical_distortion.p)) optical_distortion(image, mask, cfg.optical_distortion, rng);
  }

  if (bernoulli(rng, cfg.clahe.p)) clahe(image, cfg.clahe, rng);
  if (bernoulli(rng, cfg.brightness.p)) brightness(image, cfg.brightness, rng);
  if (bernoulli(rng, cfg.contrast.p)) contrast(image, cfg.contrast, rng);
  if (bernoulli(rng, cfg.gamma.p)) gamma(image, cfg.gamma, rng);
}

}  // namespace pneumo
