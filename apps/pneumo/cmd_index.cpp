// pneumo index: join the label CSV with a DICOM folder, assign cross-validation folds, write
// folds.csv and report what does not fit.
#include <cstdio>
#include <filesystem>
#include <string>

#include "command.hpp"
#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/dataset/folds.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace pneumo::cli {

namespace {

struct IndexArgs {
  std::string csv;
  std::vector<std::filesystem::path> data_dirs;
  std::string out;
  int folds = 5;
  unsigned long long seed = 42;
  std::string format = "relative";
  int mask_size = 1024;
};

int run_index(const IndexArgs& args) {
  auto format = parse_rle_format(args.format);
  if (!format) return report_error(format.error());
  IndexOptions options;
  options.threads = resolved_threads();
  options.progress = !global_options().quiet;
  options.labels.format = *format;
  options.labels.rows = options.labels.cols = args.mask_size;

  auto index = build_dataset_index(args.csv, args.data_dirs, options);
  if (!index) return report_error(index.error());
  auto folds = assign_folds(*index, args.folds, args.seed);
  if (!folds) return report_error(folds.error());
  if (auto st = write_folds_csv(args.out, *folds); !st) return report_error(st.error());

  std::printf("%s\n", index_summary(*index).c_str());
  std::printf("wrote %s: %zu images in %d folds (seed %llu)\n", args.out.c_str(), folds->size(), args.folds,
              args.seed);
  std::printf("%s", index_problems_summary(*index).c_str());
  return index->unreadable_files.empty() ? kExitOk : kExitPartial;
}

}  // namespace

void add_index_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<IndexArgs>();
  CLI::App* cmd = app.add_subcommand(
      "index",
      "Match label rows to DICOMs by SOPInstanceUID (PNG/JPEG images by file stem), assign patient-grouped stratified folds and write "
      "folds.csv (ImageId,fold,positive,mask_count,path,group). Exits 7 when some DICOMs were unreadable.");
  cmd->add_option("--csv", args->csv, "Label CSV (train-rle.csv)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--dicom-dir,--data", args->data_dirs,
                  "Folders of .dcm files, and of PNG/JPEG images named <ImageId>.jpg/.png (searched recursively; "
                  "may be repeated)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", args->out, "Output folds CSV, written atomically")->required();
  cmd->add_option("--folds", args->folds, "Number of folds")->capture_default_str()->check(CLI::Range(2, 1000));
  cmd->add_option("--seed", args->seed, "Seed of the fold shuffle")->capture_default_str();
  cmd->add_option("--format", args->format, "RLE dialect of the CSV")
      ->capture_default_str()
      ->check(CLI::IsMember({"relative", "absolute"}));
  cmd->add_option("--mask-size", args->mask_size, "Mask height and width of the CSV's RLEs")
      ->capture_default_str()
      ->check(CLI::Range(1, 65536));
  cmd->callback([args, &action] { action = [args] { return run_index(*args); }; });
}

}  // namespace pneumo::cli
