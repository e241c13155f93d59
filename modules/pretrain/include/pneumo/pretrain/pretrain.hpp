// `pneumo pretrain`: pre-training a segmenter's encoder before segmentation, two ways.
//
//   pneumo::PretrainConfig cfg;
//   cfg.method = pneumo::PretrainMethod::kPseudoLabels;  cfg.codes = pneumo::PretrainMethod::kVae;
//   cfg.data_dirs = {"siim/dicom-1k"};  cfg.train_only_dirs = {"siim/jpg-positive"};
//   cfg.csv = "siim/train-rle.csv";  cfg.holdout_folds = {0, 1};   // never pre-train on test/val folds
//   cfg.out_dir = "runs/pre";
//   auto summary = pneumo::run_pretraining(cfg, {});
//   // runs/pre/encoder.pt: `pneumo train --encoder-weights runs/pre/encoder.pt` imports it
//
// Methods:
//   classifier     the encoder + global pooling + linear head trained as an image classifier with a
//                  class-balanced sampler: pneumothorax vs rest from a SIIM train-rle.csv, or the
//                  15 ChestX-ray14 classes (multi-label BCE) from a Data_Entry_2017.csv-style file
//                  (images matched by file name).
//   autoencoder    encoder + small upsampling decoder, sigmoid output, BCE reconstruction of the
//                  image in [0, 1]; code = global-average-pooled deepest features.
//   vae            beta-VAE: pooled features -> linear mu, logvar (latent D) -> z -> decoder;
//                  loss = BCE reconstruction + beta * KL, both summed per image, divided by the
//                  number of pixels (the negative ELBO up to that constant); code = mu.
//   pseudo-labels  the autoencoder or vae stage (codes), then: every image's code -> PCA ->
//                  DBSCAN with the eps search of clustering.hpp to reach `clusters` clusters ->
//                  a fresh encoder + linear head trained to predict the cluster ids (noise
//                  points left out); its encoder is the output.
//   autoencoder and vae alone also run the PCA + DBSCAN step (pseudo_labels.csv, scatter plot),
//   and write the autoencoder's own encoder.
// Labels are used only by `classifier`; the other methods read the CSV only for the folds.
// Image set: the --data folders (minus `holdout_folds`, folds assigned exactly as `pneumo train`
// assigns them: same CSV, folds, fold seed) plus the train_only folders; unlabelled images count.
//
// OUT_DIR: encoder.pt (plain name -> tensor dict of the encoder's parameters and buffers, without
// the "encoder." prefix: import_encoder_weights' default rule maps them back), pretrain.json
// (config, seed, images, losses per epoch, final held-out accuracy; for clustering: PCA explained
// variance, the eps and min_points found, the rule, cluster sizes, noise), pseudo_labels.csv,
// plots/{loss,reconstructions,pca_scatter}.png (gnuplot; skipped with a warning without it).
// Every file is written atomically. Deterministic for a given seed and thread count.
// Not thread-safe: one run per process (it sets torch's thread count and seed).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/result.hpp"

namespace pneumo {

enum class PretrainMethod { kClassifier, kAutoencoder, kVae, kPseudoLabels };

// "classifier" | "autoencoder" | "vae" | "pseudo-labels"; kInvalidArgument otherwise.
Result<PretrainMethod> parse_pretrain_method(std::string_view text);
std::string pretrain_method_name(PretrainMethod method);

struct PretrainConfig {
  PretrainMethod method = PretrainMethod::kClassifier;
  PretrainMethod codes = PretrainMethod::kVae;  // pseudo-labels: kAutoencoder or kVae

  std::vector<std::filesystem::path> data_dirs;        // split into folds (when csv is given)
  std::vector<std::filesystem::path> train_only_dirs;  // always used, never in a fold
  std::filesystem::path csv;                           // train-rle.csv or ChestX-ray14 CSV
  std::vector<int> holdout_folds;                      // folds of data_dirs left out (needs a SIIM csv)
  int folds = 5;
  std::uint64_t fold_seed = 42;
  std::filesystem::path cache_dir;                     // default: as `pneumo train`
  int max_images = 0;                                  // 0 = all; else a seeded subset

  std::string encoder = "mobilenet_v2";
  int in_channels = 1;
  double norm_mean = 0.5;  // network input = (px/255 - mean) / std, as the segmenter's config
  double norm_std = 0.5;
  int size = 128;          // multiple of 32
  int epochs = 3;          // per training stage
  int batch = 16;
  double lr = 1e-3;        // AdamW
  double weight_decay = 1e-4;

  int clusters = 14;       // >= 2
  double beta = 4.0;       // vae
  int latent = 32;         // vae
  int pca_components = 10;
  std::vector<int> min_points{5, 10, 3};
  double holdout_share = 0.1;  // of the pre-training images, for the final accuracy (classifiers)

  int workers = 2;
  int threads = 0;         // 0 = all cores
  std::uint64_t seed = 42;
  std::filesystem::path out_dir;
};

// Names the offending field (kInvalidArgument).
Status validate(const PretrainConfig& config);
nlohmann::json to_json(const PretrainConfig& config);

struct PretrainSummary {
  int images = 0;
  std::filesystem::path weights_file;
  std::filesystem::path report_file;  // pretrain.json
  int encoder_tensors = 0;
  double final_loss = 0;
  double final_accuracy = -1;         // classifier stages; -1 when none ran
  int clusters_found = 0;             // clustering methods
  bool clusters_reached = false;
};

struct PretrainRunOptions {
  bool quiet = false;  // no progress bars
};

Result<PretrainSummary> run_pretraining(const PretrainConfig& config, const PretrainRunOptions& options);

}  // namespace pneumo
