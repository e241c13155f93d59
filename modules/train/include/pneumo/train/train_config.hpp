// Everything `pneumo train` needs to know, as one JSON-serialisable value (no torch types).
//
//   pneumo::TrainConfig cfg;                                   // defaults: small CPU recipe
//   auto from_file = pneumo::train_config_from_json(json, "train.json");  // unknown keys = errors
//   nlohmann::json j = pneumo::to_json(cfg);                   // written to RUN_DIR/config.json
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "pneumo/core/result.hpp"
#include "pneumo/model/config.hpp"
#include "pneumo/pipeline/sampler.hpp"
#include "pneumo/train/lr_schedule.hpp"
#include "pneumo/transforms/augment.hpp"

namespace pneumo {

// Weights of the segmentation loss terms; "bce:3,dice:1,focal:4" in text form.
struct LossSpec {
  double bce = 0.0;
  double dice = 0.0;
  double focal = 0.0;
  double lovasz = 0.0;
  double focal_gamma = 2.0;
  std::string to_string() const;
  bool operator==(const LossSpec&) const = default;
};

// "bce+dice" (equal weights), "bce:3,dice:1,focal:4", "focal+dice", "lovasz".
Result<LossSpec> parse_loss_spec(std::string_view text);

struct TrainConfig {
  ModelConfig model;

  // Data.
  std::filesystem::path csv;        // train-rle.csv
  // Folders of DICOMs (matched by SOPInstanceUID) and PNG/JPEG images (matched by file stem),
  // searched recursively; split into folds.
  std::vector<std::filesystem::path> data_dirs;
  // Folders whose images are only ever trained on: never assigned a fold, never validated or
  // scored (e.g. extra positives exported without headers, which do not have the real class balance).
  std::vector<std::filesystem::path> train_only_dirs;
  std::filesystem::path folds_csv;  // optional: folds from `pneumo index`; else computed
  std::filesystem::path cache_dir;  // default: ~/.cache/pneumo/<hash of data_dirs[0]>
  int folds = 5;
  int fold = 0;                     // validation fold (model selection, curves)
  // Folds left out of training and validation alike: a test fold that no training decision saw.
  std::vector<int> holdout_folds;
  std::uint64_t fold_seed = 42;

  // Optimisation.
  int epochs = 12;
  int batch = 8;
  int accumulate = 1;               // gradient accumulation steps
  std::string optimizer = "adamw";  // adam | adamw | sgd
  double weight_decay = 1e-4;
  double momentum = 0.9;            // sgd
  double encoder_lr_scale = 1.0;    // encoder lr = lr * this
  LrScheduleConfig schedule;
  LossSpec loss{.bce = 1.0, .dice = 1.0};
  double image_loss_weight = 0.5;   // joint: weight of the image-level BCE
  int freeze_encoder_epochs = 0;    // encoder frozen for the first N epochs
  int early_stop_patience = 0;      // 0 = off
  bool amp = false;                 // CUDA mixed precision
  std::filesystem::path encoder_weights;  // plain name->tensor dict (torchvision names)

  // Data pipeline.
  AugmentConfig augment = AugmentConfig::light();
  SamplerConfig sampler;            // rank/world_size are set at run time
  std::filesystem::path hard_examples_csv;  // ImageId column; oversampled by sampler.hard_example_factor
  int workers = 2;
  int max_batches_per_epoch = 0;    // 0 = all; for smoke tests

  // Run.
  std::string device = "cpu";       // cpu | cuda | auto
  int threads = 0;                  // torch intra-op threads; 0 = all cores
  std::uint64_t seed = 42;
  std::filesystem::path out_dir;

  bool operator==(const TrainConfig&) const = default;
};

// The default small recipe: MobileNetV2 U-Net, 1 channel, 256 px, BCE+Dice, AdamW 1e-3 with
// warm-up and plateau decay, light augmentation, positive share 0.8 -> 0.5.
TrainConfig default_train_config();

// Minimum predicted component area at `input_size`: 2048 px at 1024 (the SIIM winners' order of
// magnitude), scaled by area.
int default_min_component_area(std::int64_t input_size);

Status validate(const TrainConfig& config);
nlohmann::json to_json(const TrainConfig& config);
// Missing keys keep defaults from `base`; unknown keys are errors naming `source`.
Result<TrainConfig> train_config_from_json(const nlohmann::json& j, std::string_view source,
                                           const TrainConfig& base = default_train_config());

}  // namespace pneumo
