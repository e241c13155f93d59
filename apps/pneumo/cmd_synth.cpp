// pneumo synth: a phantom dataset in the SIIM layout (DICOMs + train-rle.csv) and a preview PNG.
#include <cstdio>
#include <filesystem>
#include <string>

#include "command.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/synth/synth.hpp"

namespace pneumo::cli {

void add_synth_command(CLI::App& app, Action& action) {
  struct Args {
    std::string out;
    SynthOptions options;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Write a synthetic SIIM-format dataset: DIR/dicom/*.dcm, DIR/train-rle.csv and "
               "DIR/preview.png (a positive image with its mask outlined)");
  cmd->add_option("--out", args->out, "Output directory")->required();
  cmd->add_option("--count", args->options.count, "Number of images")
      ->required()
      ->check(CLI::Range(1, 100000000));
  cmd->add_option("--seed", args->options.seed, "Random seed (same seed, same bytes)")->required();
  cmd->add_option("--size", args->options.size, "Image rows = columns")
      ->capture_default_str()
      ->check(CLI::Range(64, 4096));
  cmd->add_option("--positive-share", args->options.positive_share,
                  "Share of images with a pneumothorax")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--jpeg-quality", args->options.jpeg_quality, "JPEG baseline quality")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));

  cmd->callback([args, &action] {
    action = [args]() -> int {
      SynthOptions options = args->options;
      options.threads = resolved_threads();
      options.progress = !global_options().quiet;
      const std::filesystem::path out(args->out);
      auto summary = generate_synthetic_dataset(out, options);
      if (!summary) return report_error(summary.error());

      std::filesystem::path preview;
      if (summary->first_positive_index >= 0) {
        SynthCase c = generate_synthetic_case(options, summary->first_positive_index);
        preview = out / "preview.png";
        if (auto st = write_png(preview, make_synth_preview(c)); !st) return report_error(st.error());
      }
      std::printf("synth: %d images (%d positive, %d with several regions, %d negative), %d CSV rows, "
                  "%d patients, %dx%d px, seed %llu\n",
                  summary->images, summary->positives, summary->multi_region, summary->negatives,
                  summary->csv_rows, summary->patients, options.size, options.size,
                  static_cast<unsigned long long>(options.seed));
      std::printf("  dicom:   %s\n  labels:  %s\n", summary->dicom_dir.string().c_str(),
                  summary->csv_path.string().c_str());
      if (!preview.empty()) std::printf("  preview: %s\n", preview.string().c_str());
      return kExitOk;
    };
  });
}

}  // namespace pneumo::cli
