// AugmentConfig presets, validation and JSON (de)serialisation.
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "pneumo/transforms/augment.hpp"

namespace pneumo {
namespace {

using nlohmann::json;

const char* border_name(BorderMode mode) { return mode == BorderMode::kConstant ? "constant" : "reflect"; }

// Reads one op object field by field; remembers the first error with its full key path.
class FieldReader {
 public:
  FieldReader(const json& object, std::string source, std::string path)
      : object_(object), source_(std::move(source)), path_(std::move(path)) {}

  void number(const char* key, double& out) {
    if (const json* v = find(key)) {
      if (!v->is_number()) return set_error(key, "expected a number, got " + v->dump());
      out = v->get<double>();
    }
  }
  void integer(const char* key, int& out) {
    if (const json* v = find(key)) {
      if (!v->is_number_integer()) return set_error(key, "expected an integer, got " + v->dump());
      out = v->get<int>();
    }
  }
  void border(const char* key, BorderMode& out) {
    if (const json* v = find(key)) {
      if (v->is_string() && v->get<std::string>() == "reflect") {
        out = BorderMode::kReflect;
      } else if (v->is_string() && v->get<std::string>() == "constant") {
        out = BorderMode::kConstant;
      } else {
        set_error(key, "expected \"reflect\" or \"constant\", got " + v->dump());
      }
    }
  }
  // Call after reading every known key: any other key is a typo worth reporting.
  void reject_unknown() {
    for (const auto& item : object_.items()) {
      if (!seen_.count(item.key())) set_error(item.key().c_str(), "unknown key");
    }
  }
  bool ok() const { return error_.empty(); }
  Error error() const { return fail(ErrorCode::kInvalidArgument, error_); }

 private:
  const json* find(const char* key) {
    seen_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  void set_error(const char* key, const std::string& what) {
    if (error_.empty()) error_ = source_ + ": " + path_ + "." + key + ": " + what;
  }
  const json& object_;
  std::string source_;
  std::string path_;
  std::set<std::string> seen_;
  std::string error_;
};

Status check_p(const char* name, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return fail(ErrorCode::kInvalidArgument, std::string(name) + ": " + std::to_string(p) + " is not in [0, 1]");
  }
  return ok_status();
}

Status check(bool condition, const std::string& message) {
  return condition ? ok_status() : Status(fail(ErrorCode::kInvalidArgument, message));
}

}  // namespace

AugmentConfig AugmentConfig::none() { return AugmentConfig{}; }

AugmentConfig AugmentConfig::light() {
  AugmentConfig c;
  c.hflip.p = 0.5;
  c.shift_scale_rotate = {.p = 0.5, .shift_limit = 0.05, .scale_limit = 0.1, .rotate_limit = 10,
                          .border = BorderMode::kReflect};
  c.brightness = {.p = 0.3, .limit = 0.1};
  c.contrast = {.p = 0.3, .limit = 0.1};
  return c;
}

AugmentConfig AugmentConfig::heavy() {
  AugmentConfig c;
  c.hflip.p = 0.5;
  c.shift_scale_rotate = {.p = 0.7, .shift_limit = 0.1, .scale_limit = 0.15, .rotate_limit = 15,
                          .border = BorderMode::kReflect};
  c.brightness = {.p = 0.5, .limit = 0.2};
  c.contrast = {.p = 0.5, .limit = 0.2};
  c.gamma = {.p = 0.5, .gamma_min = 0.8, .gamma_max = 1.2};
  c.clahe = {.p = 0.3, .clip_min = 1.0, .clip_max = 4.0, .tile_grid = 8};
  // One of the three, equally likely, 30% of the time.
  c.distortion_one_of_p = 0.3;
  c.elastic = {.p = 1.0, .alpha = 30, .sigma = 6, .border = BorderMode::kReflect};
  c.grid_distortion = {.p = 1.0, .num_steps = 5, .distort_limit = 0.3, .border = BorderMode::kReflect};
  c.optical_distortion = {.p = 1.0, .distort_limit = 0.2, .shift_limit = 0.05, .border = BorderMode::kReflect};
  return c;
}

Result<AugmentConfig> augment_preset(std::string_view name) {
  if (name == "none") return AugmentConfig::none();
  if (name == "light") return AugmentConfig::light();
  if (name == "heavy") return AugmentConfig::heavy();
  return fail(ErrorCode::kInvalidArgument,
              "augmentation preset \"" + std::string(name) + "\": expected none, light or heavy");
}

Status validate(const AugmentConfig& c) {
  const std::pair<const char*, double> ps[] = {
      {"hflip.p", c.hflip.p},
      {"random_resized_crop.p", c.random_resized_crop.p},
      {"shift_scale_rotate.p", c.shift_scale_rotate.p},
      {"elastic.p", c.elastic.p},
      {"grid_distortion.p", c.grid_distortion.p},
      {"optical_distortion.p", c.optical_distortion.p},
      {"clahe.p", c.clahe.p},
      {"brightness.p", c.brightness.p},
      {"contrast.p", c.contrast.p},
      {"gamma.p", c.gamma.p},
      {"distortion_one_of_p", c.distortion_one_of_p}};
  for (const auto& [name, p] : ps) {
    if (auto st = check_p(name, p); !st) return st;
  }
  const auto& rrc = c.random_resized_crop;
  const auto& ssr = c.shift_scale_rotate;
  const std::pair<bool, const char*> checks[] = {
      {rrc.scale_min > 0 && rrc.scale_min <= rrc.scale_max && rrc.scale_max <= 1,
       "random_resized_crop.scale_min/scale_max: expected 0 < scale_min <= scale_max <= 1"},
      {rrc.ratio_min > 0 && rrc.ratio_min <= rrc.ratio_max,
       "random_resized_crop.ratio_min/ratio_max: expected 0 < ratio_min <= ratio_max"},
      {rrc.out_rows >= 0 && rrc.out_cols >= 0, "random_resized_crop.out_rows/out_cols: expected >= 0 (0 = input size)"},
      {ssr.shift_limit >= 0 && ssr.shift_limit <= 1, "shift_scale_rotate.shift_limit: expected a value in [0, 1]"},
      {ssr.scale_limit >= 0 && ssr.scale_limit < 1, "shift_scale_rotate.scale_limit: expected a value in [0, 1)"},
      {ssr.rotate_limit >= 0 && ssr.rotate_limit <= 180, "shift_scale_rotate.rotate_limit: expected degrees in [0, 180]"},
      {c.elastic.alpha >= 0 && c.elastic.sigma >= 0, "elastic.alpha/sigma: expected >= 0"},
      {c.grid_distortion.num_steps >= 1, "grid_distortion.num_steps: expected >= 1"},
      {c.grid_distortion.distort_limit >= 0 && c.grid_distortion.distort_limit < 1,
       "grid_distortion.distort_limit: expected a value in [0, 1)"},
      {c.optical_distortion.distort_limit >= 0 && c.optical_distortion.shift_limit >= 0,
       "optical_distortion.distort_limit/shift_limit: expected >= 0"},
      {c.clahe.clip_min > 0 && c.clahe.clip_min <= c.clahe.clip_max, "clahe.clip_min/clip_max: expected 0 < clip_min <= clip_max"},
      {c.clahe.tile_grid >= 1, "clahe.tile_grid: expected >= 1"},
      {c.brightness.limit >= 0 && c.brightness.limit <= 1, "brightness.limit: expected a value in [0, 1]"},
      {c.contrast.limit >= 0 && c.contrast.limit <= 1, "contrast.limit: expected a value in [0, 1]"},
      {c.gamma.gamma_min > 0 && c.gamma.gamma_min <= c.gamma.gamma_max, "gamma.gamma_min/gamma_max: expected 0 < gamma_min <= gamma_max"},
  };
  for (const auto& [good, message] : checks) {
    if (auto st = check(good, message); !st) return st;
  }
  return ok_status();
}

nlohmann::json augment_config_to_json(const AugmentConfig& c) {
  json j;
  j["hflip"] = {{"p", c.hflip.p}};
  const auto& rrc = c.random_resized_crop;
  j["random_resized_crop"] = {{"p", rrc.p}, {"scale_min", rrc.scale_min}, {"scale_max", rrc.scale_max},
                              {"ratio_min", rrc.ratio_min}, {"ratio_max", rrc.ratio_max},
                              {"out_rows", rrc.out_rows}, {"out_cols", rrc.out_cols}};
  const auto& ssr = c.shift_scale_rotate;
  j["shift_scale_rotate"] = {{"p", ssr.p}, {"shift_limit", ssr.shift_limit}, {"scale_limit", ssr.scale_limit},
                             {"rotate_limit", ssr.rotate_limit}, {"border", border_name(ssr.border)}};
  j["elastic"] = {{"p", c.elastic.p}, {"alpha", c.elastic.alpha}, {"sigma", c.elastic.sigma},
                  {"border", border_name(c.elastic.border)}};
  j["grid_distortion"] = {{"p", c.grid_distortion.p}, {"num_steps", c.grid_distortion.num_steps},
                          {"distort_limit", c.grid_distortion.distort_limit},
                          {"border", border_name(c.grid_distortion.border)}};
  j["optical_distortion"] = {{"p", c.optical_distortion.p}, {"distort_limit", c.optical_distortion.distort_limit},
                             {"shift_limit", c.optical_distortion.shift_limit},
                             {"border", border_name(c.optical_distortion.border)}};
  j["distortion_one_of_p"] = c.distortion_one_of_p;
  j["clahe"] = {{"p", c.clahe.p}, {"clip_min", c.clahe.clip_min}, {"clip_max", c.clahe.clip_max},
                {"tile_grid", c.clahe.tile_grid}};
  j["brightness"] = {{"p", c.brightness.p}, {"limit", c.brightness.limit}};
  j["contrast"] = {{"p", c.contrast.p}, {"limit", c.contrast.limit}};
  j["gamma"] = {{"p", c.gamma.p}, {"gamma_min", c.gamma.gamma_min}, {"gamma_max", c.gamma.gamma_max}};
  return j;
}

Result<AugmentConfig> augment_config_from_json(const nlohmann::json& j, std::string_view source_view) {
  const std::string source(source_view);
  if (!j.is_object()) {
    return fail(ErrorCode::kInvalidArgument, source + ": expected a JSON object of augmentation ops, got " + j.dump());
  }
  AugmentConfig c;
  static const std::set<std::string> kOps = {"hflip", "random_resized_crop", "shift_scale_rotate", "elastic",
                                             "grid_distortion", "optical_distortion", "clahe", "brightness",
                                             "contrast", "gamma", "distortion_one_of_p"};
  for (const auto& item : j.items()) {
    if (!kOps.count(item.key())) return fail(ErrorCode::kInvalidArgument, source + ": " + item.key() + ": unknown augmentation op");
    if (item.key() == "distortion_one_of_p") {
      if (!item.value().is_number()) {
        return fail(ErrorCode::kInvalidArgument, source + ": distortion_one_of_p: expected a number, got " + item.value().dump());
      }
      c.distortion_one_of_p = item.value().get<double>();
      continue;
    }
    if (!item.value().is_object()) {
      return fail(ErrorCode::kInvalidArgument, source + ": " + item.key() + ": expected an object like {\"p\": 0.5}, got " + item.value().dump());
    }
    FieldReader r(item.value(), source, item.key());
    const std::string& op = item.key();
    if (op == "hflip") {
      r.number("p", c.hflip.p);
    } else if (op == "random_resized_crop") {
      auto& o = c.random_resized_crop;
      r.number("p", o.p);
      r.number("scale_min", o.scale_min);
      r.number("scale_max", o.scale_max);
      r.number("ratio_min", o.ratio_min);
      r.number("ratio_max", o.ratio_max);
      r.integer("out_rows", o.out_rows);
      r.integer("out_cols", o.out_cols);
    } else if (op == "shift_scale_rotate") {
      auto& o = c.shift_scale_rotate;
      r.number("p", o.p);
      r.number("shift_limit", o.shift_limit);
      r.number("scale_limit", o.scale_limit);
      r.number("rotate_limit", o.rotate_limit);
      r.border("border", o.border);
    } else if (op == "elastic") {
      r.number("p", c.elastic.p);
      r.number("alpha", c.elastic.alpha);
      r.number("sigma", c.elastic.sigma);
      r.border("border", c.elastic.border);
    } else if (op == "grid_distortion") {
      r.number("p", c.grid_distortion.p);
      r.integer("num_steps", c.grid_distortion.num_steps);
      r.number("distort_limit", c.grid_distortion.distort_limit);
      r.border("border", c.grid_distortion.border);
    } else if (op == "optical_distortion") {
      r.number("p", c.optical_distortion.p);
      r.number("distort_limit", c.optical_distortion.distort_limit);
      r.number("shift_limit", c.optical_distortion.shift_limit);
      r.border("border", c.optical_distortion.border);
    } else if (op == "clahe") {
      r.number("p", c.clahe.p);
      r.number("clip_min", c.clahe.clip_min);
      r.number("clip_max", c.clahe.clip_max);
      r.integer("tile_grid", c.clahe.tile_grid);
    } else if (op == "brightness") {
      r.number("p", c.brightness.p);
      r.number("limit", c.brightness.limit);
    } else if (op == "contrast") {
      r.number("p", c.contrast.p);
      r.number("limit", c.contrast.limit);
    } else if (op == "gamma") {
      r.number("p", c.gamma.p);
      r.number("gamma_min", c.gamma.gamma_min);
      r.number("gamma_max", c.gamma.gamma_max);
    }
    r.reject_unknown();
    if (!r.ok()) return r.error();
  }
  if (auto st = validate(c); !st) return fail(ErrorCode::kInvalidArgument, source + ": " + st.error().message);
  return c;
}

}  // namespace pneumo
