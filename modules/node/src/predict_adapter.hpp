// The one place where the node calls the model. Today it wraps Predictor::predict; when the infer
// module's in-memory per-image prediction function (branch `serve`, shared with `pneumo predict`)
// lands, only this file changes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo::node_detail {

struct ModelIdentity {
  std::string name;    // model file name
  std::string sha256;  // of the first segmenter's file
};

struct NodePrediction {
  float probability = 0;
  bool positive = false;
  Mask mask;  // at the source size, 0/1
};

class NodePredictor {
 public:
  static Result<std::unique_ptr<NodePredictor>> load(const std::vector<std::string>& model_files, int batch, int threads);
  virtual ~NodePredictor() = default;
  virtual Result<std::vector<NodePrediction>> predict(const std::vector<Image8>& images) = 0;
  virtual ModelIdentity identity() const = 0;
};

// $PNEUMO_MODEL, <exe dir>/../share/pneumo/pneumo-siim.pneumo, the source tree's models/.
Result<std::string> default_model_file();

}  // namespace pneumo::node_detail
