// Label CSV <-> directory of mask PNGs (what `pneumo rle decode|encode` does).
//
//   LabelCsvOptions opt;                       // 1024x1024, relative
//   auto s = pneumo::decode_label_csv_to_pngs("train-rle.csv", "masks/", opt, /*threads=*/4,
//                                             /*show_progress=*/true);
//   // masks/<ImageId>.png, 0/255, one per ImageId (union of its rows; negatives all zero)
//   auto e = pneumo::encode_pngs_to_label_csv("masks/", "labels.csv", RleFormat::kRelative, 4, false);
//   // labels.csv: "ImageId,EncodedPixels", sorted by ImageId, "-1" for empty masks
//
// Every output file is written atomically. Thread-safe: no shared state; `threads` workers are
// used internally.
#pragma once

#include <filesystem>

#include "pneumo/core/result.hpp"
#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace pneumo {

struct DecodeToPngsSummary {
  long long images = 0;
  long long positive_images = 0;
  long long negative_images = 0;
  long long rows = 0;            // data rows read
  long long duplicate_rows = 0;  // exact duplicates dropped
};

// Reads and validates the whole CSV first (errors name file:line), then writes one PNG per image.
// An ImageId that is not a plain file name (contains '/', '\\' or is "." / "..") is an error.
Result<DecodeToPngsSummary> decode_label_csv_to_pngs(const std::filesystem::path& csv,
                                                     const std::filesystem::path& out_dir,
                                                     const LabelCsvOptions& options, int threads,
                                                     bool show_progress);

struct EncodePngsSummary {
  long long images = 0;
  long long positive_images = 0;
  int rows = 0;  // common mask height of all PNGs
  int cols = 0;  // common mask width
};

// Encodes every *.png directly in `masks_dir` (not recursive; any non-zero pixel is mask;
// ImageId = file stem). All PNGs must share one size, since a label CSV has a single mask size.
Result<EncodePngsSummary> encode_pngs_to_label_csv(const std::filesystem::path& masks_dir,
                                                   const std::filesystem::path& out_csv, RleFormat format,
                                                   int threads, bool show_progress);

}  // namespace pneumo
