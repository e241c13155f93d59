// `pneumo eval`: score model predictions against the truth and write a report folder.
//
//   pneumo::EvalRunOptions opt;
//   opt.selection = {.csv = "train-rle.csv", .data_dirs = {"dicom"}, .fold = 0};
//   opt.predictor.model_files = {"runs/a/model.pneumo"};
//   opt.out_dir = "runs/a/eval";
//   auto report = pneumo::run_evaluation(opt);          // Result<EvalReport>
//   report->summary.mean_dice; report->empty_baseline_dice;
//
// Or in two steps, with any predictions (tests, other tools):
//   auto report = pneumo::score_predictions(selected, predictions, options);    // no files
//   auto st = pneumo::write_evaluation_outputs(selected, predictions, *report, options);
//
// Scoring happens twice. The headline figures are at the source resolution, as Kaggle scored
// them: the truth decoded from the label rows at each image's own size (1024x1024 for SIIM), the
// post-processed prediction resized there with resize_mask exactly as `pneumo predict` writes
// it. Beside them ("model_size" in eval.json) the same predictions scored at the model's input
// size (SelectedImages::size) against the cached training mask: what training validated.
// Predictions must be at the model size (a Predictor fed the cached images returns them so).
// Decision metrics (confusion, accuracy, precision, recall = sensitivity, specificity, F1) count an
// image positive when its post-processed mask is non-empty: the tool's actual output. AUC and
// average precision rank images by ImagePrediction::image_probability. The same metrics from
// image_probability >= 0.5 are under "image_level".
//
// Out folder: eval.json (metrics, settings, model hashes, per-image areas and Dice), report.md, roc.png, pr.png, threshold_sweep.png, dice_histogram.png,
// confusion.png (plots skipped with a warning when gnuplot is missing), gallery/{fp,fn,lowest,best}/
// overlays (truth contour green, prediction red; the gallery folder is replaced), and
// hard_examples.csv ("ImageId,reason,dice", for `pneumo train --hard-examples`).
//
// Thread-safety: functions are reentrant; run one evaluation per out folder at a time.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/result.hpp"
#include "pneumo/eval/evaluator.hpp"
#include "pneumo/eval/postprocess.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/infer/selection.hpp"

namespace pneumo {

struct EvalReportOptions {
  std::filesystem::path out_dir;
  std::size_t gallery_size = 12;     // overlays per gallery folder
  double low_dice_threshold = 0.5;   // positives scoring below it are "low_dice" hard examples
  PostprocessParams postprocess;     // the params the predictions used (recorded; the sweep varies them)
  std::vector<ModelFileInfo> models; // recorded with their hashes
  nlohmann::json settings = nlohmann::json::object();  // selection, TTA ... recorded in eval.json
  int threads = 0;                   // 0 = default_threads()
};

struct ThresholdSweepPoint {
  float pixel_threshold = 0;
  double mean_dice = 0;
};

struct EvalReport {
  // The headline: at the source resolution when the selection carries label rows and source
  // sizes (SelectedImages::rle_rows), else at the model size.
  EvaluationSummary summary;
  EvaluationSummary model_size_summary;  // the same predictions scored at the model input size
  double empty_baseline_dice = 0;  // mean Dice of predicting every mask empty = share of negatives
  // Plain rule p > t with the report's min_component_area and gate, re-thresholding the stored
  // probability maps (t = 0.05 .. 0.95).
  std::vector<ThresholdSweepPoint> threshold_sweep;
  std::vector<std::size_t> lowest_dice_positives;  // indices into summary.records, up to gallery_size
  std::vector<std::size_t> best_dice_positives;    // found lesions, highest Dice first, up to gallery_size
  nlohmann::json json;                             // what eval.json holds
  std::vector<std::string> warnings;               // e.g. plots skipped; filled by write_evaluation_outputs
};

// Scores predictions[i] against selected.truths[i]. Fails (kInvalidArgument) when the counts
// differ or a prediction's mask or probability map is not selected.size x selected.size.
Result<EvalReport> score_predictions(const SelectedImages& selected, const std::vector<ImagePrediction>& predictions,
                                     const EvalReportOptions& options);

// Writes the out folder described above (every file atomically).
Status write_evaluation_outputs(const SelectedImages& selected, const std::vector<ImagePrediction>& predictions,
                                EvalReport& report, const EvalReportOptions& options);

struct EvalRunOptions {
  ImageSelection selection;
  PredictorOptions predictor;
  std::filesystem::path out_dir;
  std::size_t gallery_size = 12;
  bool progress = true;
};

// load Predictor -> load_selected_images at its input size -> predict_all -> score -> write.
Result<EvalReport> run_evaluation(const EvalRunOptions& options);

}  // namespace pneumo
