// `pneumo train`: index -> folds -> preprocess cache -> epochs of training and validation,
// with metrics.csv, curves.png, checkpoints (last and best), a self-contained model file and
// exact resume. No torch types here, so the CLI stays a light translation unit.
//
//   pneumo::TrainConfig cfg = pneumo::default_train_config();
//   cfg.csv = "data/train-rle.csv"; cfg.data_dirs = {"data/dicom"}; cfg.out_dir = "runs/a";
//   auto summary = pneumo::run_training(cfg, {});
//   auto again   = pneumo::resume_training("runs/a", {});   // continues from checkpoints/last.pt
//
// RUN_DIR layout: config.json, folds.csv, metrics.csv, curves.png, train.log,
// checkpoints/{last,best}.pt (model + optimiser + schedule + sampler + early-stopping state),
// model.pneumo (the best epoch by val Dice, among epochs that found at least one lesion when the
// validation set has any; with config, thresholds and metrics: all `predict` needs),
// last.pneumo (the same for the latest weights, written when the run ends).
// Several processes (torchrun-style RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT) train one model
// data-parallel; only rank 0 writes. Not thread-safe: one training per process.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"
#include "pneumo/train/train_config.hpp"

namespace pneumo {

struct EpochMetrics {
  int epoch = 0;  // 1-based
  double lr = 0;
  double train_loss = 0;
  double val_loss = 0;
  double val_dice = 0;           // Kaggle mean Dice at pixel threshold 0.5
  double val_iou = 0;
  double val_dice_positive = 0;  // over images with a non-empty truth mask
  double val_auc = 0;            // image level (0.5 when only one class is present)
  double val_accuracy = 0;
  double val_recall = 0;
  double val_specificity = 0;
  double seconds = 0;
};

struct TrainSummary {
  std::vector<EpochMetrics> history;
  int best_epoch = 0;
  double best_metric = 0;     // val Dice (minus 1 for an epoch that found no lesion), or val AUC for classifiers
  std::string best_metric_name;
  bool stopped_early = false;
  std::filesystem::path model_file;
  int train_images = 0;
  int val_images = 0;
};

struct TrainRunOptions {
  bool quiet = false;  // no progress bars
  // --resume only: train to this many epochs instead of the run's configured number (extend a
  // finished run, or stop a long one early; with no epochs left it just writes last.pneumo).
  std::optional<int> epochs_override;
};

Result<TrainSummary> run_training(const TrainConfig& config, const TrainRunOptions& options);
Result<TrainSummary> resume_training(const std::filesystem::path& run_dir, const TrainRunOptions& options);

// The score that picks model.pneumo and drives the plateau schedule and early stopping: val AUC
// for classifiers; for segmenters val Kaggle Dice, minus 1 when the validation set has positives
// and the epoch found none of them (Dice on positives 0). On data that is mostly negative (SIIM:
// ~78 %) a segmenter that predicts nothing scores the share of negatives, which early epochs of a
// real run beat only later; such an epoch must never be "best".
double selection_score(const EpochMetrics& m, bool classifier, std::size_t val_positive_images);

// metrics.csv as written in RUN_DIR (header + one row per epoch).
std::string format_metrics_csv(const std::vector<EpochMetrics>& history);

}  // namespace pneumo
