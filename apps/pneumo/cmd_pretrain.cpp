// pneumo pretrain: flags -> PretrainConfig -> run_pretraining.
#include <spdlog/spdlog.h>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "pneumo/pretrain/pretrain.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH

void add_pretrain_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string method, codes = "vae";
    std::vector<std::string> data, train_only;
    std::vector<int> holdout_folds;
    std::vector<int> min_points;
    PretrainConfig config;
    std::string csv, cache_dir, out;
  };
  auto f = std::make_shared<Flags>();
  PretrainConfig& c = f->config;
  CLI::App* cmd = app.add_subcommand(
      "pretrain",
      "Pre-train a segmenter's encoder: as an image classifier (SIIM pneumothorax vs rest, or ChestX-ray14 labels), "
      "or on pseudo-labels (autoencoder / beta-VAE codes -> PCA -> DBSCAN clusters -> classify the clusters). Writes "
      "OUT/encoder.pt for `pneumo train --encoder-weights`, pretrain.json and plots/.");
  cmd->add_option("--method", f->method, "classifier | autoencoder | vae | pseudo-labels")->required();
  cmd->add_option("--codes", f->codes, "pseudo-labels: cluster the codes of an autoencoder or vae (default vae)");
  cmd->add_option("--data", f->data,
                  "Folders of DICOMs and PNG/JPEG images (searched recursively, may be repeated); split into folds "
                  "as `pneumo train` splits them when --csv is a SIIM train-rle.csv")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--train-only", f->train_only, "Folders always used, never in a fold (may be repeated)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--csv", f->csv,
                  "Labels: a SIIM train-rle.csv (classifier: pneumothorax vs rest) or a ChestX-ray14 CSV with 'Image "
                  "Index' and 'Finding Labels' (classifier: 15 labels). Unsupervised methods use it only for folds")
      ->check(CLI::ExistingFile);
  cmd->add_option("--holdout-fold", f->holdout_folds,
                  "Leave these folds of --data out, as `pneumo train --holdout-fold` does (may be repeated)");
  cmd->add_option("--folds", c.folds, "Number of folds (default 5)");
  cmd->add_option("--fold-seed", c.fold_seed, "Seed of the folds (default 42, as train)");
  cmd->add_option("--encoder", c.encoder,
                  "mobilenet_v2 | resnet34 | efficientnet_b0 | densenet121 | vgg19 | vgg19_bn (default mobilenet_v2)");
  cmd->add_option("--in-channels", c.in_channels, "1 (grey) or 3 (grey replicated); must match the segmenter (default 1)");
  cmd->add_option("--norm-mean", c.norm_mean, "Input normalisation mean, as the segmenter's config (default 0.5)");
  cmd->add_option("--norm-std", c.norm_std, "Input normalisation std (default 0.5)");
  cmd->add_option("--clusters", c.clusters, "Pseudo-labels: DBSCAN clusters to reach (default 14)");
  cmd->add_option("--beta", c.beta, "beta of the beta-VAE (default 4)");
  cmd->add_option("--latent", c.latent, "Latent size of the beta-VAE (default 32)");
  cmd->add_option("--pca-components", c.pca_components, "PCA components the codes are reduced to (default 10)");
  cmd->add_option("--min-points", f->min_points, "DBSCAN min_points candidates (default 5 10 3)");
  cmd->add_option("--size", c.size, "Input size in pixels, a multiple of 32 (default 128)");
  cmd->add_option("--epochs", c.epochs, "Epochs per training stage (default 3)");
  cmd->add_option("--batch", c.batch, "Batch size (default 16)");
  cmd->add_option("--lr", c.lr, "AdamW learning rate (default 1e-3)");
  cmd->add_option("--max-images", c.max_images, "Use a seeded subset of this many images (default 0 = all)");
  cmd->add_option("--workers", c.workers, "Loader threads (default 2)");
  cmd->add_option("--cache-dir", f->cache_dir, "Preprocess cache (default as `pneumo train`)");
  cmd->add_option("--seed", c.seed, "Seed of weights, sampling and splits (default 42)");
  cmd->add_option("--out", f->out, "Output directory")->required();
  cmd->callback([f, &action] {
    action = [f]() -> int {
      PretrainConfig c = f->config;
      auto method = parse_pretrain_method(f->method);
      if (!method) return report_error(method.error());
      c.method = method.value();
      auto codes = parse_pretrain_method(f->codes);
      if (!codes) return report_error(codes.error());
      c.codes = codes.value();
      c.data_dirs.assign(f->data.begin(), f->data.end());
      c.train_only_dirs.assign(f->train_only.begin(), f->train_only.end());
      c.holdout_folds = f->holdout_folds;
      if (!f->min_points.empty()) c.min_points = f->min_points;
      c.csv = f->csv;
      c.cache_dir = f->cache_dir;
      c.out_dir = f->out;
      c.threads = resolved_threads();
      PretrainRunOptions options;
      options.quiet = global_options().quiet;
      auto summary = run_pretraining(c, options);
      if (!summary) return report_error(summary.error());
      std::printf("pre-trained %s on %d images: final loss %.4f", pretrain_method_name(c.method).c_str(),
                  summary->images, summary->final_loss);
      if (summary->final_accuracy >= 0) std::printf(", held-out accuracy %.4f", summary->final_accuracy);
      if (c.method != PretrainMethod::kClassifier) {
        std::printf(", %d clusters%s", summary->clusters_found, summary->clusters_reached ? "" : " (nearest count found)");
      }
      std::printf("\nencoder weights: %s (%d tensors)\n", summary->weights_file.string().c_str(), summary->encoder_tensors);
      return kExitOk;
    };
  });
}

#else

void add_pretrain_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("pretrain", "Pre-train an encoder (needs a build with LibTorch)");
  cmd->allow_extras();
  cmd->fallthrough(false);
  cmd->callback([&action] {
    action = [] {
      return report_error(fail(ErrorCode::kUnsupported,
                               "pretrain: this pneumo was built without LibTorch; install libtorch-dev and rebuild"));
    };
  });
}

#endif

}  // namespace pneumo::cli
