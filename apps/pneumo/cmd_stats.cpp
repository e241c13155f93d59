// pneumo stats: exploratory statistics of a label CSV (and optionally its DICOMs) as stats.json,
// report.md and PNG plots.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

#include "command.hpp"
#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"
#include "pneumo/report/stats.hpp"

namespace pneumo::cli {

namespace {

struct StatsArgs {
  std::string csv;
  std::vector<std::filesystem::path> data_dirs;
  std::string out;
  std::string format = "relative";
  int mask_size = 1024;
  bool no_plots = false;
};

int run_stats(const StatsArgs& args) {
  auto format = parse_rle_format(args.format);
  if (!format) return report_error(format.error());
  IndexOptions options;
  options.threads = resolved_threads();
  options.progress = !global_options().quiet;
  options.labels.format = *format;
  options.labels.rows = options.labels.cols = args.mask_size;

  auto index = build_dataset_index(args.csv, args.data_dirs, options);
  if (!index) return report_error(index.error());
  StatsOptions stats_options;
  stats_options.threads = options.threads;
  stats_options.progress = options.progress;
  auto stats = compute_stats(*index, stats_options);
  if (!stats) return report_error(stats.error());
  ReportOptions report_options;
  report_options.plots = !args.no_plots;
  auto files = write_stats_report(args.out, *stats, report_options);
  if (!files) return report_error(files.error());

  const DatasetStats& s = *stats;
  std::printf("%lld rows, %lld images: %lld positive, %lld negative; %lld masks, %lld images with 2+ masks",
              s.rows, s.images, s.positive_images, s.negative_images, s.masks, s.multi_mask_images);
  if (s.duplicate_rows > 0) std::printf(", %lld duplicate rows dropped", s.duplicate_rows);
  std::printf("\n");
  if (s.mask_area_px) {
    std::printf("mask area (px): median %.0f, mean %.0f, range %.0f-%.0f", s.mask_area_px->median,
                s.mask_area_px->mean, s.mask_area_px->min, s.mask_area_px->max);
    if (s.mask_area_cm2) std::printf("; median %.1f cm2 over %lld images", s.mask_area_cm2->median, s.mask_area_cm2->count);
    std::printf("\n");
  }
  if (s.has_dicoms) std::printf("%s\n%s", index_summary(*index).c_str(), index_problems_summary(*index).c_str());
  for (const auto& w : files->warnings) std::fprintf(stderr, "pneumo: warning: %s\n", w.c_str());
  std::printf("report: %s (%zu plots), numbers: %s\n", files->report_md.c_str(), files->plots.size(),
              files->stats_json.c_str());
  return index->unreadable_files.empty() ? kExitOk : kExitPartial;
}

}  // namespace

void add_stats_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<StatsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "stats",
      "Dataset statistics: class balance, masks per image, mask areas and, with --dicom-dir, sex, CDC age "
      "groups, view, modality, body part and problems. Writes stats.json, report.md and plots/*.png "
      "(gnuplot). Exits 7 when some DICOMs were unreadable.");
  cmd->add_option("--csv", args->csv, "Label CSV (train-rle.csv)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--dicom-dir,--data", args->data_dirs,
                  "Folders of .dcm files and PNG/JPEG images named <ImageId>.jpg/.png (optional; searched "
                  "recursively; may be repeated). Images without DICOM tags count as 'unknown' in the tables.")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args->out, "Output folder")->required();
  cmd->add_option("--format", args->format, "RLE dialect of the CSV")
      ->capture_default_str()
      ->check(CLI::IsMember({"relative", "absolute"}));
  cmd->add_option("--mask-size", args->mask_size, "Mask height and width of the CSV's RLEs")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd->add_flag("--no-plots", args->no_plots, "Skip the gnuplot PNGs");
  cmd->callback([args, &action] { action = [args] { return run_stats(*args); }; });
}

}  // namespace pneumo::cli
