// pneumo eval: flags -> EvalRunOptions -> run_evaluation; prints the headline numbers.
#include <cstdio>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "pneumo/infer/evaluation.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

struct EvalFlags {
  std::vector<std::string> models;
  std::string data, csv, folds_csv, cache_dir, out, device = "cpu";
  std::optional<int> fold;
  int folds = 5;
  std::uint64_t fold_seed = 42;
  int batch = 8;
  std::size_t gallery = 12;
  bool tta = false;
  bool size_from_model = false;
};

int print_headline(const EvalReport& r, const std::string& out) {
  const EvaluationSummary& s = r.summary;
  const BinaryMetrics decision = binary_metrics(s.mask_presence);
  std::printf("eval: %zu images (%zu positive, %zu negative)\n", s.images, s.positive_images, s.negative_images);
  std::printf("  mean Dice            %.4f   (all-empty baseline %.4f)\n", s.mean_dice, r.empty_baseline_dice);
  std::printf("  Dice on positives    %.4f\n", s.mean_dice_positive);
  if (s.roc_auc) {
    std::printf("  AUC                  %.4f\n", *s.roc_auc);
  } else {
    std::printf("  AUC                  n/a (one class only)\n");
  }
  std::printf("  sensitivity          %.4f   specificity %.4f   (positive = non-empty mask)\n", decision.recall,
              decision.specificity);
  std::printf("report: %s/report.md\n", out.c_str());
  return kExitOk;
}

}  // namespace

void add_eval_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<EvalFlags>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Score model files on labelled DICOMs (a validation fold or all): eval.json, report.md with ROC/PR, "
              "threshold sweep, Dice histogram and confusion plots, FP/FN/lowest-Dice overlay galleries and "
              "hard_examples.csv. Scored at the model input size, on the images and masks training uses.");
  cmd->add_option("--model", f->models, "Model file(s): several segmenters are averaged; a classifier is a gate")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", f->data, "Directory of DICOMs (searched recursively)")->required();
  cmd->add_option("--csv", f->csv, "train-rle.csv")->required()->check(CLI::ExistingFile);
  cmd->add_option("--fold", f->fold, "Evaluate this fold only (default: every matched image)");
  cmd->add_option("--folds-csv", f->folds_csv, "Folds from `pneumo index` or RUN_DIR/folds.csv")
      ->check(CLI::ExistingFile);
  cmd->add_option("--folds", f->folds, "Number of folds when computed as `pneumo train` does")->capture_default_str();
  cmd->add_option("--fold-seed", f->fold_seed, "Seed of the computed folds")->capture_default_str();
  cmd->add_option("--cache-dir", f->cache_dir, "Preprocess cache (default ~/.cache/pneumo/<hash of DATA>, as train)");
  cmd->add_flag("--tta", f->tta, "Horizontal-flip test-time augmentation");
  cmd->add_flag("--size-from-model", f->size_from_model,
                "Score at the model's input size (always so; accepted for scripts that spell it out)");
  cmd->add_option("--batch", f->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--gallery", f->gallery, "Overlays per gallery (fp, fn, lowest)")->capture_default_str();
  cmd->add_option("--device", f->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_option("--out", f->out, "Output directory")->required();
  cmd->callback([f, &action] {
    action = [f]() -> int {
      EvalRunOptions o;
      o.selection.csv = f->csv;
      o.selection.dicom_dir = f->data;
      o.selection.folds_csv = f->folds_csv;
      o.selection.cache_dir = f->cache_dir;
      o.selection.fold = f->fold;
      o.selection.folds = f->folds;
      o.selection.fold_seed = f->fold_seed;
      o.predictor.model_files.assign(f->models.begin(), f->models.end());
      o.predictor.device = f->device;
      o.predictor.threads = resolved_threads();
      o.predictor.batch = f->batch;
      o.predictor.hflip_tta = f->tta;
      o.out_dir = f->out;
      o.gallery_size = f->gallery;
      o.progress = !global_options().quiet;
      auto report = run_evaluation(o);
      if (!report) return report_error(report.error());
      return print_headline(report.value(), f->out);
    };
  });
}

#else

void add_eval_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("eval", "Score model files on labelled DICOMs (needs a build with LibTorch)");
  cmd->allow_extras();
  cmd->callback([&action] {
    action = [] {
      return report_error(fail(ErrorCode::kUnsupported,
                               "eval: this pneumo was built without LibTorch; install libtorch-dev and rebuild"));
    };
  });
}

#endif

}  // namespace pneumo::cli
