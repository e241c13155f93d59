// pneumo tune: flags -> TuneRunOptions -> run_tuning; prints the best parameters and the Dice gain.
#include <fmt/format.h>

#include <cstdio>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "model_selection_flags.hpp"
#include "pneumo/infer/tuning.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

struct TuneFlags : ModelSelectionFlags {
  std::string out;
  bool dry_run = false;
};

std::string describe(const PostprocessParams& p) {
  std::string s = p.triplet ? fmt::format("triplet rule: top {:.2f} on >= {} px, bottom {:.2f}", p.top_threshold,
                                          p.triplet_min_area, p.bottom_threshold)
                            : fmt::format("pixel threshold {:.2f}", p.pixel_threshold);
  return s + fmt::format(", min component area {} px, classifier threshold {:.2f}", p.min_component_area,
                         p.classifier_threshold);
}

}  // namespace

void add_tune_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<TuneFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tune", "Search post-processing (pixel threshold or triplet rule, min component area, classifier gate) on "
              "out-of-fold predictions for the best mean Dice, and store it in the model file (unless --dry-run).");
  add_model_selection_flags(cmd, *f, "Model file(s) as for eval; the parameters go into the first segmenter's file",
                            "Tune on this fold: the one the model validated on (default: every image)",
                            "Horizontal-flip test-time augmentation (tune with the TTA you predict with)");
  cmd->add_flag("--dry-run", f->dry_run, "Report the best parameters without writing them into the model file");
  cmd->add_option("--out", f->out, "Also write tune.json (search summary) into this directory");
  cmd->callback([f, &action] {
    action = [f]() -> int {
      TuneRunOptions o;
      o.selection = to_image_selection(*f);
      o.predictor = to_predictor_options(*f);
      o.dry_run = f->dry_run;
      o.out_dir = f->out;
      o.progress = !global_options().quiet;
      auto result = run_tuning(o);
      if (!result) return report_error(result.error());
      const TuneOutcome& t = result->outcome;
      std::printf("tune: %zu images (%zu positive), %zu grid points\n", t.images, t.positives, t.grid_points);
      std::printf("  before: mean Dice %.4f with %s\n", t.dice_before, describe(t.current).c_str());
      std::printf("  best:   mean Dice %.4f with %s\n", t.dice_after, describe(t.best).c_str());
      if (result->written_to) {
        std::printf("written into %s\n", result->written_to->string().c_str());
      } else if (!t.improved) {
        std::printf("the model's parameters are already the best found; nothing written\n");
      } else {
        std::printf("dry run: nothing written\n");
      }
      return kExitOk;
    };
  });
}

#else

void add_tune_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("tune", "Tune post-processing on a validation fold (needs a build with LibTorch)");
  cmd->allow_extras();
  cmd->callback([&action] {
    action = [] {
      return report_error(fail(ErrorCode::kUnsupported,
                               "tune: this pneumo was built without LibTorch; install libtorch-dev and rebuild"));
    };
  });
}

#endif

}  // namespace pneumo::cli
