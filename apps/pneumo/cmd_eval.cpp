// pneumo eval: flags -> EvalRunOptions -> run_evaluation; prints the headline numbers.
#include <cstdio>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "model_selection_flags.hpp"
#include "pneumo/infer/evaluation.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

struct EvalFlags : ModelSelectionFlags {
  std::string out;
  std::size_t gallery = 12;
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
              "threshold sweep, Dice histogram and confusion plots, FP/FN/lowest- and best-Dice overlay galleries and "
              "hard_examples.csv. Scored at the model input size, on the images and masks training uses.");
  add_model_selection_flags(cmd, *f, "Model file(s): several segmenters are averaged; a classifier is a gate",
                            "Evaluate this fold only (default: every matched image)",
                            "Horizontal-flip test-time augmentation");
  cmd->add_flag("--size-from-model", f->size_from_model,
                "Score at the model's input size (always so; accepted for scripts that spell it out)");
  cmd->add_option("--gallery", f->gallery, "Overlays per gallery (fp, fn, lowest, best)")->capture_default_str();
  cmd->add_option("--out", f->out, "Output directory")->required();
  cmd->callback([f, &action] {
    action = [f]() -> int {
      EvalRunOptions o;
      o.selection = to_image_selection(*f);
      o.predictor = to_predictor_options(*f);
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
