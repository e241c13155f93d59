// `pneumo predict` as a library, and the per-image pieces the HTTP service shares with it.
//
//   pneumo::PredictRunOptions opt;
//   opt.predictor.model_files = {"models/pneumo-siim.pneumo"};   // empty: default_model_files()
//   opt.inputs = {"in/"};                                        // files or directories
//   opt.out_dir = "out";
//   auto report = pneumo::run_prediction(opt);   // Result<PredictRunReport>
//
// Per image (what the service does with an upload):
//   auto in = pneumo::decode_input(bytes, "upload", InputFormat::kDicom, "id");
//   auto preds = predictor.predict({in->image});
//   PredictionRecord r = pneumo::make_prediction_record(*in, preds->at(0));  // the JSON record
//   auto files = pneumo::render_outputs(*in, preds->at(0), {.mask_png = true, .seg = true});
//
// Out folder of run_prediction (docs/outputs.md): submission.csv (SIIM relative RLE, one row per
// image), predictions.json ({"header": models, sha256, post-processing, tta, device, counts;
// "predictions": one PredictionRecord per image; "failed": [{"file", "error"}]}), masks/<id>.png
// (0/255), overlays/<id>.png, seg/<id>.dcm (DICOM SEG), sc/<id>.dcm (Secondary Capture).
// <id> is the ImageId with every character outside [0-9A-Za-z._-] replaced by '_'.
// Every file is written atomically (temporary file + rename). An input is skipped (reported,
// listed under "failed", its files removed) when it cannot be read or decoded, when its ImageId
// repeats an earlier one, holds a comma or a line break (submission.csv could not hold it), or
// maps to an output name another ImageId already uses, or when one of its files cannot be
// written; the other images are written as usual.
//
// Thread-safety: run_prediction is reentrant (one run per out folder at a time); the per-image
// functions are pure.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/files.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/infer/image_input.hpp"
#include "pneumo/infer/predictor.hpp"
#include "pneumo/outputs/prediction_record.hpp"

namespace pneumo {

// The pneumo version written into outputs (SEG/SC SoftwareVersions, predictions.json).
const char* pneumo_version();

// The record `pneumo predict` writes into predictions.json and `pneumo serve` returns: the one
// place that decides what each field holds.
PredictionRecord make_prediction_record(const DecodedInput& input, const ImagePrediction& prediction);

// The post-processed mask (0/1, source size) as SIIM relative RLE ("-1" when empty), as in
// submission.csv.
std::string prediction_rle(const ImagePrediction& prediction);

struct OutputSelection {
  bool mask_png = false;     // 0/255 grey PNG at the source size
  bool overlay_png = false;  // render_overlay with the probability caption
  bool seg = false;          // DICOM SEG (DICOM inputs only)
  bool sc = false;           // Secondary Capture of the overlay (DICOM inputs only)
};

struct RenderedOutputs {
  std::optional<Bytes> mask_png, overlay_png, seg, sc;  // set when selected (seg/sc: and DICOM)
};

// The selected objects as bytes; files written by run_prediction hold exactly these bytes.
Result<RenderedOutputs> render_outputs(const DecodedInput& input, const ImagePrediction& prediction,
                                       const OutputSelection& selection);

// Output file stem for an ImageId: [0-9A-Za-z._-] kept, anything else '_'; never "", "." or "..".
std::string output_stem(const std::string& image_id);

// predictions.json's "header" (without the counts): pneumo version, models with sha256,
// post-processing, tta, device.
nlohmann::json prediction_header_json(const std::vector<ModelFileInfo>& models, const PostprocessParams& postprocess,
                                      bool tta, const std::string& device);

// The model files used when none are given: $PNEUMO_MODEL, <exe dir>/../share/pneumo/, then the
// checkout's models/ (<exe dir>/../../../models/ for a build directory inside it). `command`
// starts the error message ("predict: no --model given and no model file found (looked at ...)").
Result<std::vector<std::filesystem::path>> default_model_files(const std::string& command);

// A shipped resource found the same way: <exe dir>/../share/pneumo/<name>, then
// <exe dir>/../../../<checkout_path>. nullopt when neither exists.
std::optional<std::filesystem::path> find_shipped_resource(const std::string& name, const std::string& checkout_path);

struct PredictRunOptions {
  PredictorOptions predictor;  // model_files empty: default_model_files("predict")
  std::vector<std::filesystem::path> inputs;  // files, or directories searched recursively for .dcm/.dicom/.png/.jpg/.jpeg
  std::filesystem::path out_dir;
  bool write_png = true;  // masks/ and overlays/
  bool write_seg = true;
  bool write_sc = true;
  int threads = 1;        // reading, rendering and writing
  bool progress = true;   // progress bar on stderr
  // Called once per skipped input, as it happens; `during_progress` is true once the progress bar
  // may be on screen (the CLI starts its line with a newline then).
  std::function<void(const Error& error, bool during_progress)> on_skip;
};

struct PredictRunReport {
  std::size_t images = 0;     // predicted and written
  std::size_t positives = 0;
  std::vector<Error> failures;  // skipped inputs, in the order they were reported
  bool wrote_outputs = false;   // false when no input path could be used (nothing was written)
};

// Errors (nothing written): no model file found, model load failure, batch < 1, no inputs at
// all (kNotFound), the out folder cannot be created, submission.csv/predictions.json cannot be
// written. Skipped inputs are not errors: see PredictRunReport::failures.
Result<PredictRunReport> run_prediction(const PredictRunOptions& options);

}  // namespace pneumo
