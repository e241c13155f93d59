// Flags shared by `pneumo eval` and `pneumo tune`: which model files, which labelled images
// (the fold split exactly as `pneumo train` makes it), and how to run the models.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "command.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/infer/selection.hpp"

namespace pneumo::cli {

struct ModelSelectionFlags {
  std::vector<std::string> models;
  std::vector<std::string> data;
  std::string csv, folds_csv, cache_dir, device = "cpu";
  std::optional<int> fold;
  int folds = 5;
  std::uint64_t fold_seed = 42;
  int batch = 8;
  bool tta = false;
};

inline void add_model_selection_flags(CLI::App* cmd, ModelSelectionFlags& f, const std::string& model_help,
                                      const std::string& fold_help, const std::string& tta_help) {
  cmd->add_option("--model", f.models, model_help)->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", f.data,
                  "Folders of DICOMs and PNG/JPEG images named <ImageId>.jpg/.png (searched recursively; may be "
                  "repeated). Give the same folders as `pneumo train --data`, never its --train-only ones.")
      ->required();
  cmd->add_option("--csv", f.csv, "train-rle.csv")->required()->check(CLI::ExistingFile);
  cmd->add_option("--fold", f.fold, fold_help);
  cmd->add_option("--folds-csv", f.folds_csv, "Folds from `pneumo index` or RUN_DIR/folds.csv")
      ->check(CLI::ExistingFile);
  cmd->add_option("--folds", f.folds, "Number of folds when computed as `pneumo train` does")->capture_default_str();
  cmd->add_option("--fold-seed", f.fold_seed, "Seed of the computed folds")->capture_default_str();
  cmd->add_option("--cache-dir", f.cache_dir, "Preprocess cache (default ~/.cache/pneumo/<hash of DATA>, as train)");
  cmd->add_flag("--tta", f.tta, tta_help);
  cmd->add_option("--batch", f.batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", f.device, "cpu | cuda | auto")->capture_default_str();
}

inline ImageSelection to_image_selection(const ModelSelectionFlags& f) {
  ImageSelection s;
  s.csv = f.csv;
  s.data_dirs.assign(f.data.begin(), f.data.end());
  s.folds_csv = f.folds_csv;
  s.cache_dir = f.cache_dir;
  s.fold = f.fold;
  s.folds = f.folds;
  s.fold_seed = f.fold_seed;
  return s;
}

inline PredictorOptions to_predictor_options(const ModelSelectionFlags& f) {
  PredictorOptions p;
  p.model_files.assign(f.models.begin(), f.models.end());
  p.device = f.device;
  p.threads = resolved_threads();
  p.batch = f.batch;
  p.hflip_tta = f.tta;
  return p;
}

}  // namespace pneumo::cli
