// pneumo tune: flags -> TuneRunOptions -> run_tuning; prints the best parameters and the Dice gain.
#include <fmt/format.h>

#include <cstdio>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "pneumo/infer/tuning.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

struct TuneFlags {
  std::vector<std::string> models;
  std::string data, csv, folds_csv, cache_dir, out, device = "cpu";
  std::optional<int> fold;
  int folds = 5;
  std::uint64_t fold_seed = 42;
  int batch = 8;
  bool tta = false;
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
  cmd->add_option("--model", f->models,
                  "Model file(s) as for eval; the parameters go into the first segmenter's file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", f->data, "Directory of DICOMs (searched recursively)")->required();
  cmd->add_option("--csv", f->csv, "train-rle.csv")->required()->check(CLI::ExistingFile);
  cmd->add_option("--fold", f->fold, "Tune on this fold: the one the model validated on (default: every image)");
  cmd->add_option("--folds-csv", f->folds_csv, "Folds from `pneumo index` or RUN_DIR/folds.csv")
      ->check(CLI::ExistingFile);
  cmd->add_option("--folds", f->folds, "Number of folds when computed as `pneumo train` does")->capture_default_str();
  cmd->add_option("--fold-seed", f->fold_seed, "Seed of the computed folds")->capture_default_str();
  cmd->add_option("--cache-dir", f->cache_dir, "Preprocess cache (default ~/.cache/pneumo/<hash of DATA>, as train)");
  cmd->add_flag("--tta", f->tta, "Horizontal-flip test-time augmentation (tune with the TTA you predict with)");
  cmd->add_option("--batch", f->batch, "Images per forward pass")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--device", f->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_flag("--dry-run", f->dry_run, "Report the best parameters without writing them into the model file");
  cmd->add_option("--out", f->out, "Also write tune.json (search summary) into this directory");
  cmd->callback([f, &action] {
    action = [f]() -> int {
      TuneRunOptions o;
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
