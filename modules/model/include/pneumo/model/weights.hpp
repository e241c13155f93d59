// Importing pretrained weights from plain "name -> tensor" dict files (torch.save of
// dict(model.state_dict()); see docs/weights.md for converting torchvision weights).
//
//   auto sd = pneumo::load_state_dict_file("mobilenet_v2_imagenet.pt");   // Result<StateDict>
//   if (!sd) return sd.error();
//   auto report = pneumo::import_encoder_weights(*net, sd.value());        // "x" -> "encoder.x"
//   if (!report) return report.error();   // shape mismatches, or encoder tensors the file lacks
//   spdlog::info("{}", report->summary());
//
// Names are mapped by prefix rules, longest matching `from` first: the default
// {"" -> "encoder."} sends torchvision's "features.0.0.weight" to "encoder.features.0.0.weight";
// file tensors with no destination (torchvision's "fc.*" / "classifier.*" heads) are listed as
// unexpected and skipped. A first conv stored for 3 input channels is summed over them when
// the network takes 1 channel (grey input keeps the pretrained response to grey RGB).
//
// Thread-safety: load_state_dict_file is; importing writes the module's tensors, so no
// forward may run on it meanwhile.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "pneumo/core/result.hpp"

namespace pneumo {

class NetworkImpl;

// Ordered as stored in the file.
using StateDict = std::vector<std::pair<std::string, torch::Tensor>>;

// Reads a torch.save'd (zip format) plain dict of str -> tensor. Errors: kNotFound / kIo for the
// file, kBadInput when it is not such a dict (the message names the file and the offending key).
Result<StateDict> load_state_dict_file(const std::filesystem::path& path);

struct PrefixRule {
  std::string from;  // prefix in the file
  std::string to;    // prefix in the module
};

struct WeightImportOptions {
  std::vector<PrefixRule> rules{{"", "encoder."}};
  // Fail when a module tensor under one of the rules' `to` prefixes gets no value from the file.
  bool require_complete = true;
  // Fail when a file tensor has no destination (off by default: heads are usually dropped).
  bool fail_on_unexpected = false;
  std::string source = "state dict";  // named in messages (e.g. the file path)
};

struct WeightImportReport {
  std::vector<std::string> copied;          // module names written
  std::vector<std::string> summed_to_grey;  // 3-channel first conv summed into 1 channel
  std::vector<std::string> missing;         // module tensors under the rules that the file lacked
  std::vector<std::string> unexpected;      // file names with no destination (skipped)
  std::vector<std::string> shape_mismatch;  // "name: file [..] vs module [..]" ("a -> b: ..." if renamed)
  std::string summary() const;              // one line with the counts and the first few names
};

// Copies matching tensors (parameters and buffers, e.g. BN running stats) by name under
// torch::NoGradGuard, converting dtype/device to the module's. Fails (kBadInput) on any shape
// mismatch, on missing names when require_complete, on unexpected names when
// fail_on_unexpected, or when nothing was copied; the message lists the offending names.
// Nothing is left half-written on failure: all checks happen before the first copy.
Result<WeightImportReport> import_weights(torch::nn::Module& module, const StateDict& weights,
                                          const WeightImportOptions& options);

// import_weights with the default rule {"" -> "encoder."}: torchvision backbone files.
Result<WeightImportReport> import_encoder_weights(NetworkImpl& network, const StateDict& weights,
                                                  const std::string& source = "state dict");

}  // namespace pneumo
