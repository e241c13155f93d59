// Running trained model files on images: ensembles, two-stage gate, hflip TTA, post-processing.
// No torch types here, so command-line code including this stays a light translation unit.
//
//   pneumo::PredictorOptions opt;
//   opt.model_files = {"runs/a/model.pneumo"};      // several = ensemble (e.g. k folds)
//   opt.hflip_tta = true;
//   auto predictor = pneumo::Predictor::load(opt);   // Result<Predictor>
//   auto preds = predictor->predict({img1, img2});   // Result<std::vector<ImagePrediction>>
//   Mask m = preds->at(0).mask;                      // at the source image's size, post-processed
//
// Model roles: a file whose arch is "classifier" is a gate (two-stage recipe: the segmenters run
// only where the averaged classifier probability >= postprocess.classifier_threshold); every other
// file is a segmenter ("unet", "unetpp", "joint") and their probability maps are averaged. When
// there is no classifier and every segmenter is "joint", their averaged image head is the gate. At
// least one segmenter is required. Post-processing parameters come from the first segmenter's
// model file ("thresholds" block, see pneumo/model/config.hpp), unless overridden.
// Pixel areas in the parameters (min_component_area, triplet_min_area) are in pixels of the
// model's input size: post-processing runs at that size, and the mask is then resized to the
// source size.
//
// Details of the implementation:
// - Input: each image is resized (pneumo::resize_image: area when shrinking, bilinear when
//   enlarging) to each model's input_size, scaled to [0, 1] and normalised with the model's own
//   normalisation (normalise_input). Models may differ in input_size: segmenter maps are resampled
//   bilinearly to input_size(), which is the first segmenter's.
// - hflip TTA: the mirrored image goes through every model, its mask probabilities are mirrored
//   back, and the sigmoid outputs (maps and image probabilities) of both passes are averaged.
// - Ensembles average sigmoid outputs (not logits) over the segmenters; classifiers likewise.
// - The gate: probability maps are computed for every image, also gated ones (tuning needs them
//   to search classifier_threshold); apply_postprocess empties the mask where the gate is closed.
// - Mask resizing to the source size: pneumo::resize_mask, i.e. bilinear coverage of the 0/1 mask
//   then >= 0.5 when enlarging (smooth borders, area kept; nearest neighbour would give blocky
//   edges at 4x), area average then >= 0.5 when shrinking.
//
// Thread-safety: a Predictor may be used from one thread at a time; it parallelises internally
// (torch intra-op threads + resizing on `threads` threads).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/eval/postprocess.hpp"
#include "pneumo/eval/prob_map.hpp"

namespace pneumo {

struct PredictorOptions {
  std::vector<std::filesystem::path> model_files;
  std::string device = "cpu";  // cpu | cuda | auto
  int threads = 0;             // 0 = all cores
  int batch = 4;
  bool hflip_tta = false;      // average with the prediction on the mirrored image
  std::optional<PostprocessParams> postprocess_override;
};

struct ImagePrediction {
  ProbMap probability_map;     // segmenters' averaged sigmoid, at model input size
  float image_probability = 0; // P(pneumothorax) for the image: the gate's when there is one,
                               // else the segmenters' image head (max pixel for U-Nets)
  // The gate's probability: the classifiers' mean when the ensemble has a classifier, else the
  // joint image head's when every segmenter is "joint"; nullopt for plain U-Nets. With a gate,
  // positive == (*classifier_probability >= postprocess.classifier_threshold), always.
  std::optional<float> classifier_probability;
  float max_pixel_probability = 0;  // largest value of probability_map
  std::optional<float> gate_threshold;  // postprocess.classifier_threshold when there is a gate
  Mask mask;                   // post-processed, resized to the source image size (0/1)
  bool positive = false;       // mask non-empty
};

struct ModelFileInfo {
  std::filesystem::path path;
  std::string sha256;          // of the file bytes
  std::string arch, encoder;
  int input_size = 0;
  nlohmann::json extra;        // metrics etc. stored at training time
};

class Predictor {
 public:
  static Result<Predictor> load(const PredictorOptions& options);
  ~Predictor();
  Predictor(Predictor&&) noexcept;
  Predictor& operator=(Predictor&&) noexcept;

  // requires: every image non-empty. Any size; resized to the model size internally.
  Result<std::vector<ImagePrediction>> predict(const std::vector<Image8>& images);

  const PostprocessParams& postprocess() const;
  void set_postprocess(const PostprocessParams& params);
  int input_size() const;
  const std::vector<ModelFileInfo>& models() const;

 private:
  Predictor();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes `params` into the "thresholds" block of a model file (atomically), keeping weights,
// config and extra; records `note` (e.g. the tuning summary) under extra["tuning"].
Status store_postprocess_in_model_file(const std::filesystem::path& model_file, const PostprocessParams& params,
                                       const nlohmann::json& note);

// SHA-256 hex (64 lower-case digits) of a file's bytes, read in chunks.
Result<std::string> sha256_file(const std::filesystem::path& path);
// SHA-256 hex of a byte string (FIPS 180-4; "abc" -> "ba7816bf...f20015ad").
std::string sha256_hex(std::string_view bytes);

}  // namespace pneumo
