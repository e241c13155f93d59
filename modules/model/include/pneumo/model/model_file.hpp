// Self-contained model files: one file holds the architecture config (input size,
// normalisation, thresholds), free-form extra JSON (metrics, training run) and all weights.
//
//   nlohmann::json extra = {{"val_dice", 0.84}, {"epochs", 20}};
//   if (auto st = pneumo::save_model_file("out/model.pt", cfg, *net, extra); !st) return st.error();
//   auto loaded = pneumo::load_model_file("out/model.pt", torch::kCUDA);  // Result<LoadedModel>
//   if (!loaded) return loaded.error();
//   NetOutput out = loaded->network->forward(normalise_input(loaded->config, batch01));
//
// Format "pneumo-model-v1": torch::pickle_save (torch.save's zip format) of a dict
//   {"format": "pneumo-model-v1", "config": "<JSON text of ModelConfig>", "extra": "<JSON text>",
//    "tensors": {name: tensor, ...}}    // every parameter and buffer, on the CPU
// so Python reads it too: d = torch.load("model.pt"); json.loads(d["config"]); d["tensors"].
//
// Thread-safety: both functions are safe to call concurrently on different networks.
#pragma once

#include <filesystem>
#include <memory>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "pneumo/core/result.hpp"
#include "pneumo/model/config.hpp"
#include "pneumo/model/network.hpp"

namespace pneumo {

inline constexpr const char* kModelFileFormat = "pneumo-model-v1";

struct LoadedModel {
  ModelConfig config;
  std::shared_ptr<NetworkImpl> network;  // on the requested device, in eval() mode
  nlohmann::json extra;                  // object; empty when none was saved
};

// Writes atomically (temp file + rename). `config` may differ from network.config() in
// thresholds/normalisation/input_size (later stages fill them in) but must describe the same
// architecture (same_architecture), else kInvalidArgument. `extra` must be a JSON object.
Status save_model_file(const std::filesystem::path& path, const ModelConfig& config, NetworkImpl& network,
                       const nlohmann::json& extra = nlohmann::json::object());

// Reads, validates format and config, rebuilds the network and copies every tensor. Errors name
// the file: kNotFound/kIo (file), kBadInput (not a pneumo model file, bad config JSON, missing,
// unexpected or mis-shaped tensors, listed by name).
Result<LoadedModel> load_model_file(const std::filesystem::path& path, const torch::Device& device = torch::kCPU);

}  // namespace pneumo
