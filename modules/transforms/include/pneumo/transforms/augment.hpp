// Joint image + mask augmentation for chest X-rays, modelled on albumentations.
//
//   pneumo::AugmentConfig cfg = pneumo::AugmentConfig::heavy();
//   std::mt19937_64 rng(pneumo::mix_seed(seed, epoch, position));
//   pneumo::augment(image, mask, cfg, rng);   // in place; same geometry on both
//
//   nlohmann::json j = pneumo::augment_config_to_json(cfg);          // {"hflip": {"p": 0.5}, ...}
//   auto back = pneumo::augment_config_from_json(j, "train.json");   // Result; unknown keys are errors
//
// Geometric ops move the image (bilinear) and the mask (nearest neighbour, so it stays 0/1) with
// the very same transform; photometric ops touch only the image. Order of application:
//   hflip -> random_resized_crop -> shift_scale_rotate -> elastic / grid / optical distortion
//   -> clahe -> brightness -> contrast -> gamma
// Every op first draws its coin (one draw even when p = 0), then its parameters only when applied,
// so the same seed and config give the same output on every platform (see random.hpp).
// Differences from albumentations, on purpose: contrast scales around the image mean (as
// torchvision does) rather than around 0; optical-distortion shift is a fraction of the image size
// (albumentations rounds it to whole pixels, which makes small limits a no-op); elastic has no
// extra affine part (alpha_affine) — use shift_scale_rotate for that; grid distortion cells map
// end-exclusive, so distort_limit 0 is the exact identity.
// Thread-safety: augment() is reentrant; give each thread its own rng.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <random>
#include <string_view>

#include <cstddef>  // before image.hpp, which uses size_t without including it

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo {

// What geometric ops sample outside the image. kReflect is OpenCV's BORDER_REFLECT_101
// (albumentations' default); kConstant fills 0 in both image and mask.
enum class BorderMode { kReflect, kConstant };

struct HorizontalFlipOp {
  double p = 0;
  bool operator==(const HorizontalFlipOp&) const = default;
};

// albumentations ShiftScaleRotate: shift in fractions of the size, scale factor 1 +/- scale_limit,
// angle in degrees +/- rotate_limit, about the image centre.
struct ShiftScaleRotateOp {
  double p = 0;
  double shift_limit = 0.0625;
  double scale_limit = 0.1;
  double rotate_limit = 15;
  BorderMode border = BorderMode::kReflect;
  bool operator==(const ShiftScaleRotateOp&) const = default;
};

// albumentations RandomResizedCrop: crop of area fraction in [scale_min, scale_max] and aspect
// ratio (w/h) in [ratio_min, ratio_max] (log-uniform), resized to out_rows x out_cols
// (0 = the input size). After 10 failed attempts: a centre crop with the ratio clamped.
struct RandomResizedCropOp {
  double p = 0;
  double scale_min = 0.5, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  int out_rows = 0, out_cols = 0;
  bool operator==(const RandomResizedCropOp&) const = default;
};

// Adds beta * 255, beta uniform in +/- limit.
struct BrightnessOp {
  double p = 0;
  double limit = 0.2;
  bool operator==(const BrightnessOp&) const = default;
};

// (x - mean) * alpha + mean, alpha uniform in 1 +/- limit.
struct ContrastOp {
  double p = 0;
  double limit = 0.2;
  bool operator==(const ContrastOp&) const = default;
};

// 255 * (x / 255) ^ gamma, gamma uniform in [gamma_min, gamma_max].
struct GammaOp {
  double p = 0;
  double gamma_min = 0.8, gamma_max = 1.2;
  bool operator==(const GammaOp&) const = default;
};

// OpenCV CLAHE with clip limit uniform in [clip_min, clip_max] and a tile_grid x tile_grid grid.
struct ClaheOp {
  double p = 0;
  double clip_min = 1.0, clip_max = 4.0;
  int tile_grid = 8;
  bool operator==(const ClaheOp&) const = default;
};

// Displacement fields: uniform(-1, 1) noise, Gaussian-blurred with sigma (pixels), times alpha
// (pixels). Absolute pixel units, as in albumentations, so tune them to the training size.
struct ElasticOp {
  double p = 0;
  double alpha = 30;
  double sigma = 6;
  BorderMode border = BorderMode::kReflect;
  bool operator==(const ElasticOp&) const = default;
};

// albumentations GridDistortion: num_steps cells per axis, each stretched by 1 +/- distort_limit.
struct GridDistortionOp {
  double p = 0;
  int num_steps = 5;
  double distort_limit = 0.3;
  BorderMode border = BorderMode::kReflect;
  bool operator==(const GridDistortionOp&) const = default;
};

// Barrel / pincushion lens distortion k1 = k2 = k uniform in +/- distort_limit (normalised
// coordinates, focal length = size), centre shifted by +/- shift_limit of the size.
struct OpticalDistortionOp {
  double p = 0;
  double distort_limit = 0.2;
  double shift_limit = 0.05;
  BorderMode border = BorderMode::kReflect;
  bool operator==(const OpticalDistortionOp&) const = default;
};

struct AugmentConfig {
  HorizontalFlipOp hflip;
  RandomResizedCropOp random_resized_crop;
  ShiftScaleRotateOp shift_scale_rotate;
  ElasticOp elastic;
  GridDistortionOp grid_distortion;
  OpticalDistortionOp optical_distortion;
  ClaheOp clahe;
  BrightnessOp brightness;
  ContrastOp contrast;
  GammaOp gamma;
  // albumentations OneOf over the three distortions: when > 0, with this probability exactly one
  // of elastic / grid / optical is applied, picked with weight proportional to its own p (their p
  // are then weights only). When 0, each distortion is applied independently with its own p.
  double distortion_one_of_p = 0;

  // Every op off: augment() leaves image and mask untouched.
  static AugmentConfig none();
  // hflip 0.5, mild shift-scale-rotate, brightness/contrast.
  static AugmentConfig light();
  // hflip 0.5, shift-scale-rotate 0.7, brightness/contrast/gamma, CLAHE 0.3, and one of
  // elastic / grid / optical with p 0.3. Distortion magnitudes are tuned for ~256-512 px.
  static AugmentConfig heavy();

  bool operator==(const AugmentConfig&) const = default;
};

// Checks probabilities are in [0, 1], ranges are ordered and sizes positive; the error names the
// field ("shift_scale_rotate.p: 1.5 is not in [0, 1]").
Status validate(const AugmentConfig& config);

// Applies the enabled ops in the documented order.
// requires: mask.rows == image.rows && mask.cols == image.cols; mask holds 0/1.
// ensures: mask holds 0/1; both have the same (possibly new, for random_resized_crop) size.
void augment(Image8& image, Mask& mask, const AugmentConfig& config, std::mt19937_64& rng);

// JSON form: {"hflip": {"p": 0.5}, "shift_scale_rotate": {"p": 0.7, "shift_limit": ...,
// "border": "reflect"}, ..., "distortion_one_of_p": 0.3}. Missing ops are off; missing fields
// keep the op's defaults; unknown keys and wrong types are errors naming `source` and the key.
nlohmann::json augment_config_to_json(const AugmentConfig& config);
Result<AugmentConfig> augment_config_from_json(const nlohmann::json& json,
                                               std::string_view source = "augment config");
// Looks up a preset by name: "none", "light", "heavy".
Result<AugmentConfig> augment_preset(std::string_view name);

}  // namespace pneumo
