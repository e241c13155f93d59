// Which labelled images `pneumo eval` and `pneumo tune` score, decoded at the scoring size, and
// batch prediction over them with a progress bar.
//
//   pneumo::ImageSelection sel;
//   sel.csv = "train-rle.csv"; sel.data_dirs = {"dicom"}; sel.fold = 0;   // fold 0 of 5, seed 42
//   auto data = pneumo::load_selected_images(sel, /*size=*/predictor.input_size(), threads, true);
//   auto preds = pneumo::predict_all(
//       [&](const std::vector<Image8>& b) { return predictor.predict(b); }, data->images, 16, true);
//
// The images are those `pneumo train` uses: the index's matched images (labelled, readable, not
// duplicates); with a fold, only that fold's, where the folds come from folds_csv or are computed
// exactly as training computes them (assign_folds(index, folds, fold_seed), defaults 5 and 42),
// so `--fold K` selects what a run trained with `--fold K` validated on.
// Images and truth masks come from the preprocess cache at `size` (the one training fills:
// resize_image for the image, resize_mask for the union of the RLE rows), so truth and
// prediction are at the same size and orientation. The label rows and source sizes are kept too,
// for scoring at the source resolution (source_truth_mask).
//
// Thread-safety: functions are reentrant; do not build the same cache directory from two
// processes at once (see pipeline/cache.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/pipeline/cache.hpp"  // default_cache_dir

namespace pneumo {

struct ImageSelection {
  std::filesystem::path csv;        // train-rle.csv
  std::vector<std::filesystem::path> data_dirs;  // DICOM / PNG / JPEG folders, searched recursively
  std::filesystem::path folds_csv;  // optional: folds.csv from `pneumo index` or a training run
  std::filesystem::path cache_dir;  // default: default_cache_dir(data_dirs[0]), as `pneumo train`
  std::optional<int> fold;          // nullopt: every matched image
  int folds = 5;                    // used when folds_csv is empty
  std::uint64_t fold_seed = 42;
};

struct SelectedImages {
  int size = 0;                      // rows = cols of every image and truth mask
  std::vector<std::string> ids;      // SOPInstanceUIDs, in index (path) order
  std::vector<Image8> images;        // size x size
  std::vector<Mask> truths;          // size x size, 0/1
  std::vector<bool> truth_labels;    // the source mask has at least one pixel
  // What source-resolution scoring needs (Kaggle scored 1024x1024 masks): each image's stored
  // size and its label rows (SIIM relative RLE at that size; "-1" or none = empty).
  std::vector<int> source_rows, source_cols;
  std::vector<std::vector<std::string>> rle_rows;
  std::vector<std::string> skipped;  // "<image_id>: <why>" for sources that could not be decoded
};

// Errors: unreadable CSV / missing DICOM folder / bad folds.csv (from the modules that read
// them), a fold outside [0, folds) or with no images (kInvalidArgument), nothing left to score
// (kBadInput). Sources that fail to decode are listed in `skipped`, not errors.
Result<SelectedImages> load_selected_images(const ImageSelection& selection, int size, int threads,
                                            bool progress);

// The truth of image i at its source size: the union of its RLE rows, decoded as SIIM relative RLE.
// Errors name the image and the row.
Result<Mask> source_truth_mask(const SelectedImages& selected, std::size_t i);

using PredictFunction = std::function<Result<std::vector<ImagePrediction>>(const std::vector<Image8>&)>;

// Calls `predict` on consecutive batches of `batch` images; returns one prediction per image, in
// order. Fails with predict's first error, or kInternal when it returns a wrong count.
Result<std::vector<ImagePrediction>> predict_all(const PredictFunction& predict, const std::vector<Image8>& images,
                                                 std::size_t batch, bool progress);

// What `pneumo eval` and `pneumo tune` both start with: the loaded Predictor, the selection
// decoded at its input size (skipped sources logged as warnings) and its predictions over it.
struct PredictedSelection {
  Predictor predictor;
  SelectedImages selected;
  std::vector<ImagePrediction> predictions;  // one per selected image, in order
  int threads = 1;                           // options.threads resolved (0 = all cores)
};
Result<PredictedSelection> predict_selection(const PredictorOptions& options, const ImageSelection& selection,
                                             bool progress);

// How the images were chosen, for eval.json / tune.json: csv, data, fold (null = every matched
// image) and where the folds came from (folds_csv, or folds + fold_seed).
nlohmann::json selection_json(const ImageSelection& selection);

}  // namespace pneumo
