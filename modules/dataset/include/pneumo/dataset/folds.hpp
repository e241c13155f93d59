// Cross-validation folds over the matched images of a DatasetIndex, and folds.csv I/O.
//
//   auto folds = pneumo::assign_folds(*index, /*k=*/5, /*seed=*/42);
//   auto st = pneumo::write_folds_csv("index.csv", folds.value());
//   auto back = pneumo::read_folds_csv("index.csv");   // errors name file:line and the field
//
// Group-stratified: images are grouped by PatientID (an image without one is its own group), so
// one patient never spans two folds; groups are shuffled with `seed`, then placed greedily,
// largest positive count first, each into the fold with the fewest positives (ties: fewest
// images, then lowest fold); negative-only groups go to the fold with the fewest images. When
// every patient has at most one positive image, per-fold positive counts differ by at most 1.
// The same seed gives the same folds on every platform (own shuffle over std::mt19937_64).
//
// folds.csv columns: ImageId,fold,positive,mask_count,path,group. `group` is the first 12 hex
// digits of a salted 64-bit hash of the PatientID: enough to check that a patient never spans
// folds, and it never writes the PatientID itself. (Not a cryptographic pseudonym; SIIM's
// PatientIDs are already anonymised.) `path` is empty for a labels-only index.
//
// Thread-safety: pure functions on values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "pneumo/core/result.hpp"
#include "pneumo/dataset/dataset_index.hpp"

namespace pneumo {

struct FoldEntry {
  std::string image_id;
  int fold = 0;  // 0 .. k-1
  bool positive = false;
  int mask_count = 0;
  std::string path;
  std::string group;  // salted hash of the PatientID (or of the ImageId when there is none)
  bool operator==(const FoldEntry&) const = default;
};

// The images assigned are index.matched_images() for an index with DICOMs, otherwise every
// label row. Entries come out in ImageId order.
// Errors: k < 2, or fewer groups than k (kInvalidArgument).
Result<std::vector<FoldEntry>> assign_folds(const DatasetIndex& index, int k, std::uint64_t seed);

// The one fold selection every command uses (train, eval, tune): the folds of `folds_csv` when
// it is given, else assign_folds(index, k, seed), so `eval --fold K` scores exactly what a run
// trained with `--fold K` validated on. Errors: those of read_folds_csv / assign_folds.
Result<std::vector<FoldEntry>> folds_for(const DatasetIndex& index, const std::filesystem::path& folds_csv, int k,
                                         std::uint64_t seed);

// "first 12 hex digits of the salted hash" used for the `group` column.
std::string group_key(std::string_view patient_id);

std::string format_folds_csv(const std::vector<FoldEntry>& entries);
Status write_folds_csv(const std::filesystem::path& path, const std::vector<FoldEntry>& entries);
Result<std::vector<FoldEntry>> parse_folds_csv(std::string_view text, std::string_view source_name);
Result<std::vector<FoldEntry>> read_folds_csv(const std::filesystem::path& path);

}  // namespace pneumo
