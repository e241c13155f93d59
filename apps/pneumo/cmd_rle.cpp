// pneumo rle decode|encode: SIIM label CSV <-> one mask PNG per image.
#include <cstdio>
#include <memory>
#include <string>

#include "command.hpp"
#include "pneumo/mask_rle/mask_png_dir.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace pneumo::cli {
namespace {

struct RleDecodeFlags {
  std::string csv;
  std::string out;
  int size = 1024;
  int width = 0;
  int height = 0;
  std::string format = "relative";
};

struct RleEncodeFlags {
  std::string masks;
  std::string out;
  std::string format = "relative";
};

const char* format_name(RleFormat format) { return format == RleFormat::kRelative ? "relative" : "absolute"; }

int run_decode(const RleDecodeFlags& flags) {
  auto format = parse_rle_format(flags.format);
  if (!format) return report_error(format.error());
  LabelCsvOptions options;
  options.format = *format;
  // --width/--height together override --size (CLI11 already rejects mixing them with --size).
  options.rows = flags.height > 0 ? flags.height : flags.size;
  options.cols = flags.width > 0 ? flags.width : flags.size;
  if ((flags.width > 0) != (flags.height > 0)) {
    return report_error(fail(ErrorCode::kInvalidArgument, "--width and --height must be given together"));
  }
  auto summary = decode_label_csv_to_pngs(flags.csv, flags.out, options, resolved_threads(),
                                          /*show_progress=*/!global_options().quiet);
  if (!summary) return report_error(summary.error());
  std::printf("decoded %lld images (%lld positive, %lld negative) from %lld rows, %lld duplicate rows dropped, "
              "%dx%d %s -> %s\n",
              summary->images, summary->positive_images, summary->negative_images, summary->rows,
              summary->duplicate_rows, options.cols, options.rows, format_name(*format), flags.out.c_str());
  return kExitOk;
}

int run_encode(const RleEncodeFlags& flags) {
  auto format = parse_rle_format(flags.format);
  if (!format) return report_error(format.error());
  auto summary = encode_pngs_to_label_csv(flags.masks, flags.out, *format, resolved_threads(),
                                          /*show_progress=*/!global_options().quiet);
  if (!summary) return report_error(summary.error());
  std::printf("encoded %lld masks (%lld positive, %lld empty), %dx%d %s -> %s\n", summary->images,
              summary->positive_images, summary->images - summary->positive_images, summary->cols,
              summary->rows, format_name(*format), flags.out.c_str());
  return kExitOk;
}

}  // namespace

void add_rle_command(CLI::App& app, Action& action) {
  auto* rle = app.add_subcommand("rle", "Decode or encode SIIM run-length mask labels (column-major RLE)");
  rle->require_subcommand(1);

  auto decode_flags = std::make_shared<RleDecodeFlags>();
  auto* decode = rle->add_subcommand(
      "decode", "Write one 0/255 PNG per ImageId (<ImageId>.png, union of its rows; negatives all zero)");
  // Existence is checked by the module, not CLI11, so a missing input exits with kExitNotFound.
  decode->add_option("--csv", decode_flags->csv, "Label CSV (train-rle.csv or a variant)")->required();
  decode->add_option("--out", decode_flags->out, "Output directory for the PNGs")->required();
  auto* size = decode->add_option("--size", decode_flags->size, "Square mask size")
                   ->capture_default_str()
                   ->check(CLI::PositiveNumber);
  auto* width = decode->add_option("--width", decode_flags->width, "Mask width (with --height)")
                    ->check(CLI::PositiveNumber)
                    ->excludes(size);
  auto* height = decode->add_option("--height", decode_flags->height, "Mask height (with --width)")
                     ->check(CLI::PositiveNumber)
                     ->excludes(size);
  width->needs(height);
  height->needs(width);
  decode->add_option("--format", decode_flags->format, "RLE dialect: relative (SIIM) or absolute (1-based starts)")
      ->capture_default_str()
      ->check(CLI::IsMember({"relative", "absolute"}));
  decode->callback([decode_flags, &action] { action = [decode_flags] { return run_decode(*decode_flags); }; });

  auto encode_flags = std::make_shared<RleEncodeFlags>();
  auto* encode = rle->add_subcommand(
      "encode", "Write ImageId,EncodedPixels for every *.png in a directory (non-zero = mask), sorted by ImageId");
  encode->add_option("--masks", encode_flags->masks, "Directory of mask PNGs (ImageId = file stem)")->required();
  encode->add_option("--out", encode_flags->out, "Output CSV, written atomically")->required();
  encode->add_option("--format", encode_flags->format, "RLE dialect: relative (SIIM) or absolute (1-based starts)")
      ->capture_default_str()
      ->check(CLI::IsMember({"relative", "absolute"}));
  encode->callback([encode_flags, &action] { action = [encode_flags] { return run_encode(*encode_flags); }; });
}

}  // namespace pneumo::cli
