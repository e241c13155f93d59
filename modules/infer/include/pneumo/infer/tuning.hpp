// `pneumo tune`: search post-processing parameters on out-of-fold predictions and store the best
// in the model file.
//
//   pneumo::TuneRunOptions opt;
//   opt.selection = {.csv = "train-rle.csv", .data_dirs = {"dicom"}, .fold = 0};  // the validation fold
//   opt.predictor.model_files = {"runs/a/model.pneumo"};
//   auto t = pneumo::run_tuning(opt);               // predicts once, searches, writes unless dry_run
//   t->best; t->dice_before; t->dice_after; t->written_to;
//
// Search (eval/search.hpp, maximising Kaggle mean Dice; `run_tuning` scores at the source
// resolution, see tune_postprocess), two grids:
//   plain:   pixel threshold 0.10 .. 0.90 (step 0.05)
//   triplet: top 0.5 .. 0.9 x bottom 0.2 .. 0.5 (bottom <= top) x triplet min area
//            {0, 50, 100, 200, 400, 800} px at 256 px, scaled by (size / 256)^2
//   both x min component area {0, 32, 64, 128, 256, 512} px at 256 px (scaled likewise)
//   x classifier threshold 0.1 .. 0.9 only when a classifier gate is among the models.
// The better grid wins (plain on a tie). When the model's current parameters score at least as
// well as the grid's best, they are kept and nothing is written.
// The parameters are written into the first segmenter's model file (where Predictor reads them).
//
// Thread-safety: functions are reentrant; do not tune the same model file from two processes.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/result.hpp"
#include "pneumo/eval/postprocess.hpp"
#include "pneumo/eval/search.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/infer/selection.hpp"

namespace pneumo {

// The plain and triplet grids above for maps of size x size.
SearchGrid plain_tune_grid(int size);
SearchGrid triplet_tune_grid(int size);

struct TuneOutcome {
  PostprocessParams current;   // the parameters the model file held
  PostprocessParams best;      // == current when nothing beat it
  double dice_before = 0;      // mean Dice with `current`
  double dice_after = 0;       // mean Dice with `best` (>= dice_before)
  bool improved = false;       // best differs from current and scores higher
  std::size_t images = 0, positives = 0;
  std::size_t grid_points = 0; // plain + triplet
  std::vector<SearchRow> top;  // the 20 best grid points, best first (model-size Dice)
  bool at_source = false;      // dice_before/after and the choice are at the source resolution
  double model_size_dice_after = 0;  // mean Dice of `best` at the model size
};

// Pure search on out-of-fold samples (truth + probability map + optional classifier prob).
// Fails (kInvalidArgument) on no samples or samples of mixed sizes.
// With `source_truths` (one per sample, at the image's source size), the objective is Kaggle
// Dice at the source resolution: the exact grid search at the model size ranks every point, and
// the best kSourceRescored of them (plus `current`) are re-scored exactly at the source size
// (apply_postprocess, then resize_mask as `pneumo predict` does); the best of those wins, and
// dice_before/dice_after are source-resolution figures. Masks lose or gain a few border pixels in
// the resize, so the two rankings agree closely but not exactly.
inline constexpr std::size_t kSourceRescored = 40;
Result<TuneOutcome> tune_postprocess(const std::vector<EvalSample>& samples, const PostprocessParams& current,
                                     int threads, const std::vector<Mask>* source_truths = nullptr);

struct TuneRunOptions {
  ImageSelection selection;
  PredictorOptions predictor;       // model_files: the first segmenter receives the parameters
  bool dry_run = false;             // true: search and report, write nothing into the model file
  std::filesystem::path out_dir;    // optional: tune.json goes here
  bool progress = true;
};

struct TuneRunResult {
  TuneOutcome outcome;
  std::optional<std::filesystem::path> written_to;  // the model file updated, if any
  nlohmann::json json;                              // what tune.json holds
};

Result<TuneRunResult> run_tuning(const TuneRunOptions& options);

}  // namespace pneumo
