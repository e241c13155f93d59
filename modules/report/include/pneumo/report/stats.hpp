// Exploratory statistics of a SIIM dataset (labels, masks, DICOM metadata, problems) and the
// report written from them: stats.json, report.md and PNG plots.
//
//   auto index = pneumo::build_dataset_index("train-rle.csv", "dicom/", {});
//   auto stats = pneumo::compute_stats(*index, {.threads = 8});
//   auto files = pneumo::write_stats_report("eda/", *stats);
//   // eda/stats.json, eda/report.md, eda/plots/*.png (plots skipped, with a warning, without gnuplot)
//
// Definitions (stats.json uses the same names):
//   rows            data rows of the CSV (header excluded); duplicate_rows: exact duplicates dropped
//   images          distinct ImageIds; positive_images: at least one non-empty RLE
//   masks           non-empty rows after removing duplicates
//   multi_mask_images  positive images with 2 or more masks; max_masks_per_image
//   mask_area_px    summary over positive images of the area of the union of their masks
//   mask_area_cm2   the same in cm^2, over positive images matched to a DICOM with PixelSpacing
//                   (spacing scaled when the DICOM size differs from the mask size)
//   sex, age_groups, view_position, modality, body_part: counts over the readable DICOMs
//                   (duplicates counted once), with how many of them are labelled positive.
//   age_groups      the CDC (NCHS) standard age groups: <1, 1-4, 5-14, 15-24, 25-44, 45-64, 65+, unknown
//                   (unknown: PatientAge missing or invalid, e.g. over 130 years)
// PatientIDs and names never appear in any output.
//
// Thread-safety: compute_stats uses `threads` workers internally; both functions may be called
// concurrently on different outputs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"
#include "pneumo/dataset/dataset_index.hpp"

namespace pneumo {

struct Summary {
  long long count = 0;
  double min = 0;
  double median = 0;  // mean of the two middle values for an even count
  double mean = 0;
  double max = 0;
};
// requires: !values.empty()
Summary summarize(std::vector<double> values);

struct CategoryCount {
  std::string name;  // "(missing)" when the tag is absent
  long long images = 0;
  long long positive = 0;
};

// One problem instance: `id` is an ImageId or a path; `detail` says more when there is more.
struct ProblemItem {
  std::string id;
  std::string detail;
};

struct DatasetStats {
  std::string csv_name;
  long long rows = 0;
  long long duplicate_rows = 0;
  long long images = 0;
  long long positive_images = 0;
  long long negative_images = 0;
  long long masks = 0;
  long long multi_mask_images = 0;
  int max_masks_per_image = 0;
  std::vector<CategoryCount> masks_per_image;  // "1", "2", "3+" (positive images)

  std::vector<double> mask_areas_px;  // one per positive image, in label order
  std::optional<Summary> mask_area_px;
  std::vector<double> mask_areas_cm2;
  std::optional<Summary> mask_area_cm2;

  bool has_dicoms = false;
  std::string dicom_dir;           // data folders as given, joined by ", "; empty without images
  long long dicom_files = 0;       // readable images (DICOM or PNG/JPEG), duplicates counted once
  long long plain_image_files = 0; // of which PNG/JPEG without DICOM tags ("unknown" in every tag table)
  long long matched_images = 0;    // labelled DICOMs
  long long matched_positive = 0;
  std::vector<CategoryCount> sex, age_groups, view_position, modality, body_part;

  std::vector<ProblemItem> orphan_labels;      // id = ImageId
  std::vector<ProblemItem> unlabeled_images;   // id = ImageId, detail = path
  std::vector<ProblemItem> non_frontal_views;  // id = ImageId, detail = ViewPosition
  std::vector<ProblemItem> non_chest;          // id = ImageId, detail = reason
  std::vector<ProblemItem> unreadable_files;   // id = path, detail = error
  std::vector<ProblemItem> duplicate_images;   // id = ImageId, detail = paths joined by "; "
  std::vector<ProblemItem> size_mismatch;      // id = ImageId, detail = "rows x cols"
};

struct StatsOptions {
  int threads = 0;       // 0 = all cores
  bool progress = true;  // progress bar while decoding masks
};

// Decodes every positive image's masks (in parallel) for the areas; a bad RLE is an error
// naming the CSV line.
Result<DatasetStats> compute_stats(const DatasetIndex& index, const StatsOptions& options = {});

// The CDC group of an age in years ("<1", "1-4", ..., "65+"), "unknown" for nullopt.
std::string cdc_age_group(std::optional<double> age_years);

// stats.json text (pretty-printed, stable key order).
std::string stats_to_json(const DatasetStats& stats);

struct ReportOptions {
  bool plots = true;  // false: no gnuplot runs
};

struct ReportFiles {
  std::filesystem::path stats_json;
  std::filesystem::path report_md;
  std::vector<std::filesystem::path> plots;
  std::vector<std::string> warnings;  // e.g. gnuplot missing; also written into report.md
};

// Writes out_dir/stats.json, out_dir/report.md and out_dir/plots/*.png, each atomically.
// A missing gnuplot is a warning, not an error; a failing write is an error.
Result<ReportFiles> write_stats_report(const std::filesystem::path& out_dir, const DatasetStats& stats,
                                       const ReportOptions& options = {});

}  // namespace pneumo
