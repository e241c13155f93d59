// State-dict files, weight import by name, and self-contained model files.
#include "pneumo/model/model_file.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "pneumo/core/files.hpp"
#include "pneumo/model/weights.hpp"

namespace pneumo {
namespace {

std::string shape_string(const torch::Tensor& t) {
  std::ostringstream out;
  out << t.sizes();
  return out.str();
}

// First line of a c10::Error, without the C++ backtrace.
std::string short_what(const std::exception& e) {
  std::string what = e.what();
  if (const auto* ce = dynamic_cast<const c10::Error*>(&e)) what = ce->what_without_backtrace();
  if (auto nl = what.find('\n'); nl != std::string::npos) what.resize(nl);
  return what;
}

std::string join_first(const std::vector<std::string>& names, size_t limit = 5) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size() - limit) + " more)";
  return out;
}

// Reads a whole torch.save / torch::pickle_save file into an IValue.
Result<torch::IValue> load_pickle(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  std::vector<char> data(bytes->begin(), bytes->end());
  try {
    return torch::pickle_load(data);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kBadInput, path.string() + ": not a torch.save (zip format) file: " + short_what(e));
  }
}

Result<StateDict> tensor_dict(const torch::IValue& value, const std::string& where) {
  if (!value.isGenericDict())
    return fail(ErrorCode::kBadInput, where + ": expected a dict of name -> tensor, got " + value.tagKind());
  StateDict out;
  for (const auto& item : value.toGenericDict()) {
    if (!item.key().isString())
      return fail(ErrorCode::kBadInput, where + ": expected string keys, got a " + item.key().tagKind());
    const std::string& name = item.key().toStringRef();
    if (!item.value().isTensor())
      return fail(ErrorCode::kBadInput,
                  where + ": entry '" + name + "': expected a tensor, got " + item.value().tagKind());
    out.emplace_back(name, item.value().toTensor());
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------------- weights.hpp

Result<StateDict> load_state_dict_file(const std::filesystem::path& path) {
  auto value = load_pickle(path);
  if (!value) return value.error();
  return tensor_dict(value.value(), path.string());
}

std::string WeightImportReport::summary() const {
  std::string s = "copied " + std::to_string(copied.size()) + " tensors";
  if (!summed_to_grey.empty()) s += " (" + join_first(summed_to_grey) + " summed over RGB for 1-channel input)";
  s += ", " + std::to_string(missing.size()) + " missing";
  if (!missing.empty()) s += " (" + join_first(missing) + ")";
  s += ", " + std::to_string(unexpected.size()) + " unexpected";
  if (!unexpected.empty()) s += " (" + join_first(unexpected) + ")";
  s += ", " + std::to_string(shape_mismatch.size()) + " shape mismatches";
  if (!shape_mismatch.empty()) s += " (" + join_first(shape_mismatch) + ")";
  return s;
}

Result<WeightImportReport> import_weights(torch::nn::Module& module, const StateDict& weights,
                                          const WeightImportOptions& options) {
  std::map<std::string, torch::Tensor> targets;
  std::vector<std::string> target_order;  // module order, so reports read like the architecture
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    targets.emplace(item.key(), item.value());
    target_order.push_back(item.key());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    targets.emplace(item.key(), item.value());
    target_order.push_back(item.key());
  }

  struct Copy {
    torch::Tensor target;
    torch::Tensor source;
  };
  std::vector<Copy> plan;
  WeightImportReport report;
  std::set<std::string> written;
  for (const auto& [name, tensor] : weights) {
    const PrefixRule* rule = nullptr;
    for (const auto& r : options.rules) {
      if (name.rfind(r.from, 0) == 0 && (!rule || r.from.size() > rule->from.size())) rule = &r;
    }
    if (!rule) {
      report.unexpected.push_back(name);
      continue;
    }
    const std::string dest = rule->to + name.substr(rule->from.size());
    auto it = targets.find(dest);
    if (it == targets.end()) {
      report.unexpected.push_back(name);
      continue;
    }
    const torch::Tensor& target = it->second;
    if (target.sizes() == tensor.sizes()) {
      plan.push_back({target, tensor});
      report.copied.push_back(dest);
    } else if (tensor.dim() == 4 && target.dim() == 4 && tensor.size(1) == 3 && target.size(1) == 1 &&
               tensor.size(0) == target.size(0) && tensor.size(2) == target.size(2) &&
               tensor.size(3) == target.size(3)) {
      // Grey input x replicated to RGB gives sum_c W[:, c] * x: the same response with 1 channel.
      plan.push_back({target, tensor.sum(1, /*keepdim=*/true)});
      report.copied.push_back(dest);
      report.summed_to_grey.push_back(dest);
    } else {
      report.shape_mismatch.push_back((name == dest ? name : name + " -> " + dest) + ": file " +
                                      shape_string(tensor) + " vs module " + shape_string(target));
    }
    written.insert(dest);
  }
  for (const auto& name : target_order) {
    if (written.count(name)) continue;  // copied, or reported as a shape mismatch
    for (const auto& r : options.rules) {
      if (name.rfind(r.to, 0) == 0) {
        report.missing.push_back(name);
        break;
      }
    }
  }

  // One message with every problem, so a mismatched file is diagnosed in one go.
  std::vector<std::string> problems;
  if (!report.shape_mismatch.empty())
    problems.push_back(std::to_string(report.shape_mismatch.size()) +
                       " tensors have the wrong shape: " + join_first(report.shape_mismatch, 3));
  if (options.require_complete && !report.missing.empty())
    problems.push_back(std::to_string(report.missing.size()) +
                       " tensors of the model are not in the file: " + join_first(report.missing));
  if (options.fail_on_unexpected && !report.unexpected.empty())
    problems.push_back(std::to_string(report.unexpected.size()) +
                       " tensors of the file are not in the model: " + join_first(report.unexpected));
  if (report.copied.empty() && report.shape_mismatch.empty())
    problems.push_back("no tensor name matched the model (first file names: " + join_first(report.unexpected, 3) +
                       "); is it for another encoder?");
  if (!problems.empty()) {
    std::string message = options.source + ": ";
    for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    return fail(ErrorCode::kBadInput, message);
  }

  torch::NoGradGuard no_grad;
  for (auto& c : plan) c.target.copy_(c.source);  // converts dtype and device
  return report;
}

Result<WeightImportReport> import_encoder_weights(NetworkImpl& network, const StateDict& weights,
                                                  const std::string& source) {
  WeightImportOptions options;
  options.source = source;
  return import_weights(network, weights, options);
}

// ------------------------------------------------------------------------- model_file.hpp

Status save_model_file(const std::filesystem::path& path, const ModelConfig& config, NetworkImpl& network,
                       const nlohmann::json& extra) {
  if (auto st = validate_model_config(config); !st) return st.error();
  if (!same_architecture(config, network.config()))
    return fail(ErrorCode::kInvalidArgument,
                path.string() + ": the config describes another architecture than the network (" + config.arch +
                    "/" + config.encoder + " vs " + network.config().arch + "/" + network.config().encoder + ")");
  if (!extra.is_object())
    return fail(ErrorCode::kInvalidArgument, path.string() + ": extra must be a JSON object, got " + extra.dump());

  c10::Dict<std::string, torch::Tensor> tensors;
  for (const auto& item : network.named_parameters(/*recurse=*/true))
    tensors.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());
  for (const auto& item : network.named_buffers(/*recurse=*/true))
    tensors.insert(item.key(), item.value().detach().to(torch::kCPU).contiguous());

  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert(std::string("format"), std::string(kModelFileFormat));
  top.insert(std::string("config"), to_json(config).dump(2));
  top.insert(std::string("extra"), extra.dump(2));
  top.insert(std::string("tensors"), tensors);
  std::vector<char> bytes;
  try {
    bytes = torch::pickle_save(top);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInternal, path.string() + ": serialising the model failed: " + short_what(e));
  }
  return write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
}

Result<LoadedModel> load_model_file(const std::filesystem::path& path, const torch::Device& device) {
  const std::string where = path.string();
  auto value = load_pickle(path);
  if (!value) return value.error();
  if (!value->isGenericDict())
    return fail(ErrorCode::kBadInput, where + ": not a pneumo model file (expected a dict with \"format\": \"" +
                                          kModelFileFormat + "\", got " + value->tagKind() + ")");
  const auto dict = value->toGenericDict();
  auto get_string = [&](const char* key) -> Result<std::string> {
    auto it = dict.find(std::string(key));
    if (it == dict.end() || !it->value().isString())
      return fail(ErrorCode::kBadInput, where + ": field '" + key + "': expected a string" +
                                            (it == dict.end() ? " (missing)" : ", got " + it->value().tagKind()));
    return it->value().toStringRef();
  };
  auto format = get_string("format");
  if (!format) {
    return fail(ErrorCode::kBadInput, where + ": not a pneumo model file (no \"format\" field; a plain state dict? "
                                              "use load_state_dict_file / import_weights for those)");
  }
  if (format.value() != kModelFileFormat)
    return fail(ErrorCode::kBadInput,
                where + ": field 'format': expected \"" + kModelFileFormat + "\", got \"" + format.value() + "\"");

  auto config_text = get_string("config");
  if (!config_text) return config_text.error();
  nlohmann::json config_json = nlohmann::json::parse(config_text.value(), nullptr, /*allow_exceptions=*/false);
  if (config_json.is_discarded()) return fail(ErrorCode::kBadInput, where + ": field 'config': not valid JSON");
  auto config = model_config_from_json(config_json, where + ": config");
  if (!config) return config.error();

  nlohmann::json extra = nlohmann::json::object();
  if (dict.contains(std::string("extra"))) {
    auto extra_text = get_string("extra");
    if (!extra_text) return extra_text.error();
    extra = nlohmann::json::parse(extra_text.value(), nullptr, /*allow_exceptions=*/false);
    if (extra.is_discarded() || !extra.is_object())
      return fail(ErrorCode::kBadInput, where + ": field 'extra': expected a JSON object");
  }

  auto tensors_it = dict.find(std::string("tensors"));
  if (tensors_it == dict.end()) return fail(ErrorCode::kBadInput, where + ": field 'tensors': missing");
  auto tensors = tensor_dict(tensors_it->value(), where + ": field 'tensors'");
  if (!tensors) return tensors.error();

  auto network = make_network(config.value());
  if (!network) return network.error();
  WeightImportOptions options;
  options.rules = {{"", ""}};
  options.require_complete = true;
  options.fail_on_unexpected = true;
  options.source = where;
  auto report = import_weights(*network.value(), tensors.value(), options);
  if (!report) return report.error();

  auto net = network.value();
  net->to(device);
  net->eval();
  return LoadedModel{std::move(config.value()), std::move(net), std::move(extra)};
}

}  // namespace pneumo
