// pneumo train: flags -> TrainConfig -> run_training / resume_training.
#include <spdlog/spdlog.h>

#include <fstream>

#include "command.hpp"
#include "pneumo/core/files.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "pneumo/train/trainer.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

struct TrainFlags {
  std::string config_file, resume_dir;
  std::vector<std::string> data, train_only;
  std::vector<int> holdout_folds;
  std::string csv, folds_csv, cache_dir, out, encoder_weights, hard_examples;
  std::optional<int> fold, folds, size, epochs, batch, accumulate, workers, in_channels, freeze_encoder_epochs,
      early_stop, max_batches;
  std::optional<std::string> arch, encoder, device, loss, optimizer, schedule, augment;
  std::optional<double> lr, weight_decay, pos_share_start, pos_share_end;
  std::optional<int> min_area;
  std::optional<std::uint64_t> seed;
  bool amp = false;
};

Result<TrainConfig> build_config(const TrainFlags& f) {
  TrainConfig c = default_train_config();
  if (!f.config_file.empty()) {
    auto text = read_file(f.config_file);
    if (!text) return text.error();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text.value());
    } catch (const nlohmann::json::exception& e) {
      return fail(ErrorCode::kBadInput, f.config_file + ": not valid JSON: " + e.what());
    }
    auto loaded = train_config_from_json(j, f.config_file);
    if (!loaded) return loaded.error();
    c = loaded.value();
  }
  if (!f.data.empty()) c.data_dirs.assign(f.data.begin(), f.data.end());
  if (!f.train_only.empty()) c.train_only_dirs.assign(f.train_only.begin(), f.train_only.end());
  if (!f.holdout_folds.empty()) c.holdout_folds = f.holdout_folds;
  if (!f.csv.empty()) c.csv = f.csv;
  if (!f.folds_csv.empty()) c.folds_csv = f.folds_csv;
  if (!f.cache_dir.empty()) c.cache_dir = f.cache_dir;
  if (!f.out.empty()) c.out_dir = f.out;
  if (!f.encoder_weights.empty()) c.encoder_weights = f.encoder_weights;
  if (!f.hard_examples.empty()) c.hard_examples_csv = f.hard_examples;
  if (f.arch) c.model.arch = *f.arch;
  if (f.encoder) c.model.encoder = *f.encoder;
  if (f.in_channels) {
    c.model.in_channels = *f.in_channels;
    c.model.normalisation = default_normalisation(*f.in_channels);
  }
  if (f.size) c.model.input_size = *f.size;
  if (f.min_area) {
    c.model.thresholds.min_component_area = *f.min_area;
  } else if (f.config_file.empty()) {
    c.model.thresholds.min_component_area = default_min_component_area(c.model.input_size);
  }
  if (f.fold) c.fold = *f.fold;
  if (f.folds) c.folds = *f.folds;
  if (f.epochs) c.epochs = *f.epochs;
  if (f.batch) c.batch = *f.batch;
  if (f.accumulate) c.accumulate = *f.accumulate;
  if (f.workers) c.workers = *f.workers;
  if (f.freeze_encoder_epochs) c.freeze_encoder_epochs = *f.freeze_encoder_epochs;
  if (f.early_stop) c.early_stop_patience = *f.early_stop;
  if (f.max_batches) c.max_batches_per_epoch = *f.max_batches;
  if (f.device) c.device = *f.device;
  if (f.optimizer) c.optimizer = *f.optimizer;
  if (f.schedule) c.schedule.kind = *f.schedule;
  if (f.lr) c.schedule.base_lr = *f.lr;
  if (f.weight_decay) c.weight_decay = *f.weight_decay;
  if (f.seed) c.seed = *f.seed;
  if (f.amp) c.amp = true;
  c.threads = resolved_threads();
  if (f.loss) {
    auto loss = parse_loss_spec(*f.loss);
    if (!loss) return loss.error();
    c.loss = loss.value();
  }
  if (f.augment) {
    auto augment = augment_preset(*f.augment);
    if (!augment) return augment.error();
    c.augment = augment.value();
  }
  if (f.pos_share_start || f.pos_share_end) {
    const double start = f.pos_share_start.value_or(0.8);
    const double end = f.pos_share_end.value_or(start);
    c.sampler.kind = SamplerKind::kPositiveShare;
    c.sampler.interpolation = ScheduleInterpolation::kLinear;
    c.sampler.share_schedule = {{0, start}, {std::max(1, c.epochs - 1), end}};
  }
  if (c.csv.empty()) return fail(ErrorCode::kInvalidArgument, "train: --csv FILE is required");
  if (c.data_dirs.empty()) return fail(ErrorCode::kInvalidArgument, "train: --data DIR is required");
  if (c.out_dir.empty()) return fail(ErrorCode::kInvalidArgument, "train: --out RUN_DIR is required");
  if (auto st = validate(c); !st) return st.error();
  return c;
}

int print_summary(const TrainSummary& s) {
  if (s.history.empty()) return kExitOk;
  const auto& last = s.history.back();
  std::printf("trained %d epochs on %d images (validation %d): best %s %.4f at epoch %d%s\n", last.epoch,
              s.train_images, s.val_images, s.best_metric_name.c_str(), s.best_metric, s.best_epoch,
              s.stopped_early ? " (stopped early)" : "");
  std::printf("model: %s\n", s.model_file.string().c_str());
  return kExitOk;
}

}  // namespace

void add_train_command(CLI::App& app, Action& action) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a segmenter, classifier or joint model (U-Net/UNet++ on ResNet34, EfficientNet-B0, "
               "DenseNet121, VGG19, MobileNetV2) on SIIM-format data; writes RUN_DIR with checkpoints, "
               "metrics.csv, curves.png and model.pneumo. Multi-process: set RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT.");
  cmd->add_option("--config", flags->config_file, "JSON training config (flags override it)")->check(CLI::ExistingFile);
  cmd->add_option("--resume", flags->resume_dir, "Continue the run in this directory from its last checkpoint (with --epochs: to that many epochs)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", flags->data,
                  "Folders of DICOMs and PNG/JPEG images named <ImageId>.jpg/.png, searched recursively and split "
                  "into folds (may be repeated)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--train-only", flags->train_only,
                  "Folders of images used for training only: never in a fold, never validated or scored (e.g. "
                  "extra positives without the real class balance; may be repeated)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--holdout-fold", flags->holdout_folds,
                  "Folds neither trained nor validated on, kept as an untouched test set (may be repeated)");
  cmd->add_option("--csv", flags->csv, "train-rle.csv");
  cmd->add_option("--folds-csv", flags->folds_csv, "Folds from `pneumo index` (else computed, grouped by patient)");
  cmd->add_option("--fold", flags->fold, "Validation fold (default 0)");
  cmd->add_option("--folds", flags->folds, "Number of folds (default 5)");
  cmd->add_option("--arch", flags->arch, "unet | unetpp | classifier | joint (default unet)");
  cmd->add_option("--encoder", flags->encoder,
                  "resnet34 | efficientnet_b0 | densenet121 | vgg19 | vgg19_bn | mobilenet_v2 (default mobilenet_v2)");
  cmd->add_option("--in-channels", flags->in_channels, "1 (grey) or 3 (grey replicated, for ImageNet weights)");
  cmd->add_option("--size", flags->size, "Input size in pixels, a multiple of 32 (default 256)");
  cmd->add_option("--epochs", flags->epochs, "Epochs (default 12)");
  cmd->add_option("--batch", flags->batch, "Batch size per process (default 8)");
  cmd->add_option("--accumulate", flags->accumulate, "Gradient accumulation steps (default 1)");
  cmd->add_option("--loss", flags->loss, "Loss terms, e.g. bce+dice, bce:3,dice:1,focal:4, lovasz (default bce+dice)");
  cmd->add_option("--optimizer", flags->optimizer, "adamw | adam | sgd (default adamw)");
  cmd->add_option("--lr", flags->lr, "Base learning rate (default 1e-3)");
  cmd->add_option("--weight-decay", flags->weight_decay, "Weight decay (default 1e-4)");
  cmd->add_option("--schedule", flags->schedule, "plateau | cosine | constant (default plateau, with 1 warm-up epoch)");
  cmd->add_option("--augment", flags->augment, "none | light | heavy (default light)");
  cmd->add_option("--pos-share", flags->pos_share_start, "Share of positives per epoch at the start (default 0.8)");
  cmd->add_option("--pos-share-end", flags->pos_share_end, "... falling linearly to this by the last epoch");
  cmd->add_option("--encoder-weights", flags->encoder_weights, "Plain name->tensor dict (torchvision names)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--freeze-encoder-epochs", flags->freeze_encoder_epochs, "Keep the encoder frozen this many epochs");
  cmd->add_option("--min-area", flags->min_area,
                  "Drop predicted components smaller than this many pixels at the model size, in validation and "
                  "predict (default: 2048 px at 1024 scaled to --size, as in the winning SIIM solution; tune refines it)");
  cmd->add_option("--early-stop", flags->early_stop, "Stop after N epochs without improvement (0 = off)");
  cmd->add_option("--hard-examples", flags->hard_examples, "CSV of ImageIds to oversample (from `pneumo eval`)");
  cmd->add_option("--workers", flags->workers, "Loader threads (default 2)");
  cmd->add_option("--cache-dir", flags->cache_dir, "Preprocess cache (default $XDG_CACHE_HOME or ~/.cache, /pneumo/<hash of DATA>)");
  cmd->add_option("--max-batches", flags->max_batches, "Limit batches per epoch (smoke tests)");
  cmd->add_option("--device", flags->device, "cpu | cuda | auto (default cpu)");
  cmd->add_option("--seed", flags->seed, "Seed of weights, sampling and augmentation (default 42)");
  cmd->add_flag("--amp", flags->amp, "Mixed precision (CUDA only)");
  cmd->add_option("--out", flags->out, "Run directory");
  cmd->callback([flags, &action] {
    action = [flags]() -> int {
      TrainRunOptions options;
      options.quiet = global_options().quiet;
      if (!flags->resume_dir.empty()) {
        options.epochs_override = flags->epochs;
        auto summary = resume_training(flags->resume_dir, options);
        if (!summary) return report_error(summary.error());
        return print_summary(summary.value());
      }
      auto config = build_config(*flags);
      if (!config) return report_error(config.error());
      auto summary = run_training(config.value(), options);
      if (!summary) return report_error(summary.error());
      return print_summary(summary.value());
    };
  });
}

#else

void add_train_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("train", "Train a model (needs a build with LibTorch)");
  cmd->allow_extras();
  cmd->fallthrough(false);  // keep unknown training flags here instead of passing them to the app
  cmd->callback([&action] {
    action = [] {
      return report_error(fail(ErrorCode::kUnsupported,
                               "train: this pneumo was built without LibTorch; install libtorch-dev and rebuild"));
    };
  });
}

#endif

}  // namespace pneumo::cli
