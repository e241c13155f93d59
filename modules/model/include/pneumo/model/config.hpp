// Model configuration: everything needed to rebuild a network and use its outputs.
//
//   pneumo::ModelConfig cfg;                      // U-Net on ResNet34, 3 channels, 256 px
//   cfg.arch = "joint"; cfg.encoder = "mobilenet_v2";
//   if (auto st = pneumo::validate_model_config(cfg); !st) return st.error();
//   nlohmann::json j = pneumo::to_json(cfg);       // stored inside every model file
//   auto back = pneumo::model_config_from_json(j, "model.json");
//
// JSON layout (every field optional, defaults as below; unknown fields are errors):
//   {"arch": "unet", "encoder": "resnet34", "in_channels": 3, "input_size": 256,
//    "normalisation": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
//    "decoder_channels": [128, 64, 32, 16, 8], "dropout": 0.2, "num_classes": 1,
//    "joint": {"positive_area_threshold": 0, "pooling": "lse", "lse_r": 5.0, "learn_r": true,
//              "decoder": "unet"},
//    "thresholds": {"pixel_threshold": 0.5, "min_component_area": 0, "triplet": false,
//                   "top_threshold": 0.7, "bottom_threshold": 0.3, "triplet_min_area": 600,
//                   "classifier_threshold": 0.5}}
// "thresholds" is eval's PostprocessParams, the one post-processing struct: found by later
// stages (validation search, `pneumo tune`), used by predict/eval/serve, not by the network.
//
// This header has no LibTorch types. Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/eval/postprocess.hpp"

#include "pneumo/core/result.hpp"

namespace pneumo {

// Applied to pixels scaled to [0, 1]: x' = (x - mean[c]) / std[c]. One value, or one per input
// channel. ImageNet statistics by default (the encoders' usual pretraining).
struct InputNormalisation {
  std::vector<double> mean{0.485, 0.456, 0.406};
  std::vector<double> std{0.229, 0.224, 0.225};
  bool operator==(const InputNormalisation&) const = default;
};

// Settings of arch "joint": a segmenter plus an image-level head.
struct JointSettings {
  // Training labels: an image whose mask has fewer pixels than this (at input_size) counts as
  // negative for the image head. Stored here so training and inference agree.
  int64_t positive_area_threshold = 0;
  std::string pooling = "lse";  // mask logits -> image logit: "lse" | "max" | "mean"
  double lse_r = 5.0;           // LSE sharpness r (> 0): r -> 0 is mean pooling, r -> inf max pooling
  bool learn_r = true;          // "lse" only: r is a trained parameter (kept positive via exp)
  std::string decoder = "unet"; // segmenter decoder: "unet" | "unetpp"
  bool operator==(const JointSettings&) const = default;
};

struct ModelConfig {
  std::string arch = "unet";        // "unet" | "unetpp" | "classifier" | "joint"
  std::string encoder = "resnet34"; // see model_encoder_names()
  int64_t in_channels = 3;          // 1, or 3 (grey replicated, for ImageNet weights)
  int64_t input_size = 256;         // square side the network is trained and run at; multiple of 32
  InputNormalisation normalisation;
  // Output channels of the five decoder stages, deepest first (strides 16, 8, 4, 2, 1).
  // Small by default so CPU training is practical.
  std::vector<int64_t> decoder_channels{128, 64, 32, 16, 8};
  double dropout = 0.2;             // before the linear layer of classifier / joint image heads
  int64_t num_classes = 1;          // classifier only; 1 for pneumothorax (1000 for ImageNet checks)
  JointSettings joint;
  PostprocessParams thresholds;  // post-processing that predict/eval/serve apply (eval/postprocess.hpp)
  bool operator==(const ModelConfig&) const = default;
};

const std::vector<std::string>& model_arch_names();     // unet, unetpp, classifier, joint
const std::vector<std::string>& model_encoder_names();  // resnet34, efficientnet_b0, ...

// Defaults for in_channels: ImageNet mean/std for 3, their channel average for 1.
InputNormalisation default_normalisation(int64_t in_channels);

// Checks names, ranges and sizes; the message names the field and what was expected.
Status validate_model_config(const ModelConfig& config);

// True when both build the same network (same tensors), whatever their thresholds/normalisation.
bool same_architecture(const ModelConfig& a, const ModelConfig& b);

nlohmann::json to_json(const ModelConfig& config);

// Missing fields keep defaults (normalisation defaults follow in_channels). Fails with kBadInput
// on a non-object, unknown field, wrong type, or a value validate_model_config rejects; the message
// starts with `source`: "model.json: field 'joint.pooling': expected \"lse\", \"max\" or \"mean\", got \"sum\"".
Result<ModelConfig> model_config_from_json(const nlohmann::json& j, std::string_view source = "model config");

}  // namespace pneumo
