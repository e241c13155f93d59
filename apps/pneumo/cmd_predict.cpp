// pneumo predict: flags -> PredictRunOptions -> run_prediction; prints skipped inputs and a summary.
#include <cstdio>
#include <string>
#include <vector>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "pneumo/infer/prediction.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

struct PredictFlags {
  std::vector<std::string> models, inputs;
  std::string out, device = "cpu";
  int batch = 4;
  bool tta = false, no_seg = false, no_sc = false, no_png = false;
};

int run_predict(const PredictFlags& f) {
  const bool quiet = global_options().quiet;
  PredictRunOptions o;
  o.predictor.model_files.assign(f.models.begin(), f.models.end());
  o.predictor.device = f.device;
  o.predictor.threads = resolved_threads();
  o.predictor.batch = f.batch;
  o.predictor.hflip_tta = f.tta;
  o.inputs.assign(f.inputs.begin(), f.inputs.end());
  o.out_dir = f.out;
  o.write_png = !f.no_png;
  o.write_seg = !f.no_seg;
  o.write_sc = !f.no_sc;
  o.threads = resolved_threads();
  o.progress = !quiet;
  o.on_skip = [quiet](const Error& e, bool during_progress) {
    std::fprintf(stderr, "%spneumo: skipped: %s\n", during_progress && !quiet ? "\n" : "", e.message.c_str());
  };
  auto report = run_prediction(o);
  if (!report) return report_error(report.error());
  const PredictRunReport& r = report.value();
  if (r.wrote_outputs) {
    std::printf("predict: %zu images (%zu positive), %zu failed; wrote %s/submission.csv and predictions.json\n",
                r.images, r.positives, r.failures.size(), f.out.c_str());
  }
  if (r.images == 0) return r.failures.empty() ? kExitInternal : exit_code_for(r.failures.front().code);
  return r.failures.empty() ? kExitOk : kExitPartial;
}

}  // namespace

void add_predict_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<PredictFlags>();
  CLI::App* cmd = app.add_subcommand(
      "predict",
      "Predict pneumothorax masks for DICOM (or PNG/JPEG) images: submission.csv (SIIM format), predictions.json, "
      "masks/ and overlays/ PNGs, DICOM SEG (seg/) and Secondary Capture overlays (sc/) in the source study. "
      "Unreadable inputs are reported and skipped (exit code 7).");
  cmd->add_option("--model", f->models,
                  "Model file(s): several segmenters are averaged, a classifier gates (default: $PNEUMO_MODEL, "
                  "then the shipped models/pneumo-siim.pneumo)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--input", f->inputs, "DICOM/PNG/JPEG files or directories (searched recursively)")->required();
  cmd->add_option("--out", f->out, "Output directory")->required();
  cmd->add_flag("--tta", f->tta, "Average with the horizontally flipped image");
  cmd->add_option("--batch", f->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", f->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_flag("--no-seg", f->no_seg, "Do not write DICOM SEG files");
  cmd->add_flag("--no-sc", f->no_sc, "Do not write DICOM Secondary Capture overlays");
  cmd->add_flag("--no-png", f->no_png, "Do not write mask and overlay PNGs");
  cmd->callback([f, &action] { action = [f] { return run_predict(*f); }; });
}

#else

void add_predict_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("predict", "Predict masks for DICOM images (needs a build with LibTorch)");
  // Keep the usual flags here (not handed up to the main app, which would reject them as a usage
  // error) so that the user sees why predict is unavailable.
  cmd->allow_extras();
  cmd->fallthrough(false);
  cmd->callback([&action] {
    action = [] {
      return report_error(fail(ErrorCode::kUnsupported,
                               "predict: this pneumo was built without LibTorch; install libtorch-dev and rebuild"));
    };
  });
}

#endif

}  // namespace pneumo::cli
