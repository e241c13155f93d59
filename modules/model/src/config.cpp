// ModelConfig <-> JSON and validation. No LibTorch here, so this unit compiles quickly.
#include "pneumo/model/config.hpp"

#include <algorithm>
#include <cmath>
#include <set>

namespace pneumo {
namespace {

using nlohmann::json;

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += (i + 1 == names.size()) ? " or " : ", ";
    out += "\"" + names[i] + "\"";
  }
  return out;
}

Error bad(std::string_view source, std::string_view field, std::string_view expected, const json& got) {
  return fail(ErrorCode::kBadInput, std::string(source) + ": field '" + std::string(field) +
                                        "': expected " + std::string(expected) + ", got " + got.dump());
}

// Small typed readers: each leaves `out` untouched when the key is absent.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string_view source, std::string prefix)
      : j_(j), source_(source), prefix_(std::move(prefix)) {}

  Status check_keys(const std::set<std::string>& allowed) const {
    for (const auto& [key, value] : j_.items()) {
      if (!allowed.count(key)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        return fail(ErrorCode::kBadInput, std::string(source_) + ": unknown field '" + prefix_ + key +
                                              "' (known: " + list + ")");
      }
    }
    return ok_status();
  }
  Status read(const char* key, std::string& out) const {
    if (!j_.contains(key)) return ok_status();
    const json& v = j_.at(key);
    if (!v.is_string()) return bad(source_, prefix_ + key, "a string", v);
    out = v.get<std::string>();
    return ok_status();
  }
  Status read(const char* key, int64_t& out) const {
    if (!j_.contains(key)) return ok_status();
    const json& v = j_.at(key);
    if (!v.is_number_integer()) return bad(source_, prefix_ + key, "an integer", v);
    out = v.get<int64_t>();
    return ok_status();
  }
  Status read(const char* key, int& out) const {
    int64_t wide = out;
    if (auto st = read(key, wide); !st) return st;
    if (wide < INT32_MIN || wide > INT32_MAX) return bad(source_, prefix_ + key, "a 32-bit integer", j_.at(key));
    out = static_cast<int>(wide);
    return ok_status();
  }
  Status read(const char* key, float& out) const {
    double wide = out;
    if (auto st = read(key, wide); !st) return st;
    out = static_cast<float>(wide);
    return ok_status();
  }
  Status read(const char* key, double& out) const {
    if (!j_.contains(key)) return ok_status();
    const json& v = j_.at(key);
    if (!v.is_number()) return bad(source_, prefix_ + key, "a number", v);
    out = v.get<double>();
    return ok_status();
  }
  Status read(const char* key, bool& out) const {
    if (!j_.contains(key)) return ok_status();
    const json& v = j_.at(key);
    if (!v.is_boolean()) return bad(source_, prefix_ + key, "true or false", v);
    out = v.get<bool>();
    return ok_status();
  }
  Status read(const char* key, std::vector<double>& out) const {
    if (!j_.contains(key)) return ok_status();
    const json& v = j_.at(key);
    if (!v.is_array()) return bad(source_, prefix_ + key, "an array of numbers", v);
    std::vector<double> values;
    for (const auto& e : v) {
      if (!e.is_number()) return bad(source_, prefix_ + key, "an array of numbers", v);
      values.push_back(e.get<double>());
    }
    out = std::move(values);
    return ok_status();
  }
  Status read(const char* key, std::vector<int64_t>& out) const {
    if (!j_.contains(key)) return ok_status();
    const json& v = j_.at(key);
    if (!v.is_array()) return bad(source_, prefix_ + key, "an array of integers", v);
    std::vector<int64_t> values;
    for (const auto& e : v) {
      if (!e.is_number_integer()) return bad(source_, prefix_ + key, "an array of integers", v);
      values.push_back(e.get<int64_t>());
    }
    out = std::move(values);
    return ok_status();
  }

 private:
  const json& j_;
  std::string_view source_;
  std::string prefix_;
};

#define PNEUMO_TRY(expr)                     \
  do {                                       \
    if (auto st_ = (expr); !st_) return st_.error(); \
  } while (0)

Status validation_error(std::string_view source, std::string_view field, std::string_view what) {
  return fail(ErrorCode::kBadInput,
              std::string(source) + ": field '" + std::string(field) + "': " + std::string(what));
}

Status validate_with_source(const ModelConfig& c, std::string_view source) {
  if (!contains(model_arch_names(), c.arch))
    return validation_error(source, "arch", "expected " + quoted_list(model_arch_names()) + ", got \"" + c.arch + "\"");
  if (!contains(model_encoder_names(), c.encoder))
    return validation_error(source, "encoder",
                            "expected " + quoted_list(model_encoder_names()) + ", got \"" + c.encoder + "\"");
  if (c.in_channels != 1 && c.in_channels != 3)
    return validation_error(source, "in_channels", "expected 1 or 3, got " + std::to_string(c.in_channels));
  if (c.input_size < 32 || c.input_size % 32 != 0)
    return validation_error(source, "input_size",
                            "expected a positive multiple of 32 (the encoders reduce by 32), got " +
                                std::to_string(c.input_size));
  const auto& n = c.normalisation;
  for (const auto* vec : {&n.mean, &n.std}) {
    const char* field = vec == &n.mean ? "normalisation.mean" : "normalisation.std";
    if (vec->size() != 1 && static_cast<int64_t>(vec->size()) != c.in_channels)
      return validation_error(source, field,
                              "expected 1 or in_channels (" + std::to_string(c.in_channels) + ") values, got " +
                                  std::to_string(vec->size()));
    for (double v : *vec)
      if (!std::isfinite(v)) return validation_error(source, field, "expected finite numbers");
  }
  for (double s : n.std)
    if (!(s > 0)) return validation_error(source, "normalisation.std", "expected values > 0");
  if (c.decoder_channels.size() != 5)
    return validation_error(source, "decoder_channels",
                            "expected 5 values (strides 16, 8, 4, 2, 1), got " +
                                std::to_string(c.decoder_channels.size()));
  for (int64_t ch : c.decoder_channels)
    if (ch < 1 || ch > 4096) return validation_error(source, "decoder_channels", "expected values in [1, 4096]");
  if (!(c.dropout >= 0 && c.dropout < 1))
    return validation_error(source, "dropout", "expected a value in [0, 1), got " + std::to_string(c.dropout));
  if (c.num_classes < 1)
    return validation_error(source, "num_classes", "expected >= 1, got " + std::to_string(c.num_classes));
  if (c.arch != "classifier" && c.num_classes != 1)
    return validation_error(source, "num_classes", "must be 1 unless arch is \"classifier\"");
  const auto& jt = c.joint;
  if (jt.positive_area_threshold < 0)
    return validation_error(source, "joint.positive_area_threshold", "expected >= 0");
  if (!contains({"lse", "max", "mean"}, jt.pooling))
    return validation_error(source, "joint.pooling", "expected \"lse\", \"max\" or \"mean\", got \"" + jt.pooling + "\"");
  if (!(jt.lse_r > 0 && std::isfinite(jt.lse_r)))
    return validation_error(source, "joint.lse_r", "expected a finite value > 0");
  if (!contains({"unet", "unetpp"}, jt.decoder))
    return validation_error(source, "joint.decoder", "expected \"unet\" or \"unetpp\", got \"" + jt.decoder + "\"");
  const auto& t = c.thresholds;
  for (auto [name, v] : {std::pair{"thresholds.pixel_threshold", t.pixel_threshold},
                         std::pair{"thresholds.top_threshold", t.top_threshold},
                         std::pair{"thresholds.bottom_threshold", t.bottom_threshold},
                         std::pair{"thresholds.classifier_threshold", t.classifier_threshold}})
    if (!(v >= 0 && v <= 1)) return validation_error(source, name, "expected a value in [0, 1]");
  if (t.min_component_area < 0) return validation_error(source, "thresholds.min_component_area", "expected >= 0");
  if (t.triplet_min_area < 0) return validation_error(source, "thresholds.triplet_min_area", "expected >= 0");
  return ok_status();
}

}  // namespace

const std::vector<std::string>& model_arch_names() {
  static const std::vector<std::string> names{"unet", "unetpp", "classifier", "joint"};
  return names;
}

const std::vector<std::string>& model_encoder_names() {
  static const std::vector<std::string> names{"resnet34", "efficientnet_b0", "densenet121",
                                              "vgg19",    "vgg19_bn",        "mobilenet_v2"};
  return names;
}

InputNormalisation default_normalisation(int64_t in_channels) {
  InputNormalisation n;
  if (in_channels == 1) {
    n.mean = {(0.485 + 0.456 + 0.406) / 3.0};
    n.std = {(0.229 + 0.224 + 0.225) / 3.0};
  }
  return n;
}

Status validate_model_config(const ModelConfig& config) { return validate_with_source(config, "model config"); }

bool same_architecture(const ModelConfig& a, const ModelConfig& b) {
  // Pooling and learn_r decide whether an LSE r parameter exists; lse_r itself is a tensor value.
  return a.arch == b.arch && a.encoder == b.encoder && a.in_channels == b.in_channels &&
         a.decoder_channels == b.decoder_channels && a.num_classes == b.num_classes &&
         (a.arch != "joint" || (a.joint.pooling == b.joint.pooling && a.joint.learn_r == b.joint.learn_r &&
                                a.joint.decoder == b.joint.decoder));
}

nlohmann::json to_json(const ModelConfig& c) {
  return json{
      {"arch", c.arch},
      {"encoder", c.encoder},
      {"in_channels", c.in_channels},
      {"input_size", c.input_size},
      {"normalisation", {{"mean", c.normalisation.mean}, {"std", c.normalisation.std}}},
      {"decoder_channels", c.decoder_channels},
      {"dropout", c.dropout},
      {"num_classes", c.num_classes},
      {"joint",
       {{"positive_area_threshold", c.joint.positive_area_threshold},
        {"pooling", c.joint.pooling},
        {"lse_r", c.joint.lse_r},
        {"learn_r", c.joint.learn_r},
        {"decoder", c.joint.decoder}}},
      {"thresholds",
       to_json(c.thresholds)},
  };
}

Result<ModelConfig> model_config_from_json(const nlohmann::json& j, std::string_view source) {
  if (!j.is_object())
    return fail(ErrorCode::kBadInput, std::string(source) + ": expected a JSON object, got " + j.dump());
  ModelConfig c;
  ObjectReader top(j, source, "");
  PNEUMO_TRY(top.check_keys({"arch", "encoder", "in_channels", "input_size", "normalisation", "decoder_channels",
                             "dropout", "num_classes", "joint", "thresholds"}));
  PNEUMO_TRY(top.read("arch", c.arch));
  PNEUMO_TRY(top.read("encoder", c.encoder));
  PNEUMO_TRY(top.read("in_channels", c.in_channels));
  PNEUMO_TRY(top.read("input_size", c.input_size));
  PNEUMO_TRY(top.read("decoder_channels", c.decoder_channels));
  PNEUMO_TRY(top.read("dropout", c.dropout));
  PNEUMO_TRY(top.read("num_classes", c.num_classes));
  c.normalisation = default_normalisation(c.in_channels);
  if (j.contains("normalisation")) {
    const json& n = j.at("normalisation");
    if (!n.is_object()) return bad(source, "normalisation", "an object {\"mean\": [...], \"std\": [...]}", n);
    ObjectReader r(n, source, "normalisation.");
    PNEUMO_TRY(r.check_keys({"mean", "std"}));
    PNEUMO_TRY(r.read("mean", c.normalisation.mean));
    PNEUMO_TRY(r.read("std", c.normalisation.std));
  }
  if (j.contains("joint")) {
    const json& n = j.at("joint");
    if (!n.is_object()) return bad(source, "joint", "an object", n);
    ObjectReader r(n, source, "joint.");
    PNEUMO_TRY(r.check_keys({"positive_area_threshold", "pooling", "lse_r", "learn_r", "decoder"}));
    PNEUMO_TRY(r.read("positive_area_threshold", c.joint.positive_area_threshold));
    PNEUMO_TRY(r.read("pooling", c.joint.pooling));
    PNEUMO_TRY(r.read("lse_r", c.joint.lse_r));
    PNEUMO_TRY(r.read("learn_r", c.joint.learn_r));
    PNEUMO_TRY(r.read("decoder", c.joint.decoder));
  }
  if (j.contains("thresholds")) {
    const json& n = j.at("thresholds");
    if (!n.is_object()) return bad(source, "thresholds", "an object", n);
    ObjectReader r(n, source, "thresholds.");
    PNEUMO_TRY(r.check_keys({"pixel_threshold", "min_component_area", "triplet", "top_threshold", "bottom_threshold",
                             "triplet_min_area", "classifier_threshold"}));
    PNEUMO_TRY(r.read("pixel_threshold", c.thresholds.pixel_threshold));
    PNEUMO_TRY(r.read("min_component_area", c.thresholds.min_component_area));
    PNEUMO_TRY(r.read("triplet", c.thresholds.triplet));
    PNEUMO_TRY(r.read("top_threshold", c.thresholds.top_threshold));
    PNEUMO_TRY(r.read("bottom_threshold", c.thresholds.bottom_threshold));
    PNEUMO_TRY(r.read("triplet_min_area", c.thresholds.triplet_min_area));
    PNEUMO_TRY(r.read("classifier_threshold", c.thresholds.classifier_threshold));
  }
  PNEUMO_TRY(validate_with_source(c, source));
  return c;
}

}  // namespace pneumo
