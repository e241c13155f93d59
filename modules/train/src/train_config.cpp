#include "pneumo/train/train_config.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <set>

#include "pneumo/core/strings.hpp"

namespace pneumo {

std::string LossSpec::to_string() const {
  std::string out;
  auto add = [&](const char* name, double w) {
    if (w == 0) return;
    if (!out.empty()) out += ",";
    out += fmt::format("{}:{:g}", name, w);
  };
  add("bce", bce);
  add("dice", dice);
  add("focal", focal);
  add("lovasz", lovasz);
  return out;
}

Result<LossSpec> parse_loss_spec(std::string_view text) {
  LossSpec spec;
  const char sep = text.find('+') != std::string_view::npos ? '+' : ',';
  for (std::string_view part : split(text, sep)) {
    part = trim(part);
    if (part.empty()) continue;
    double weight = 1.0;
    std::string_view name = part;
    if (auto colon = part.find(':'); colon != std::string_view::npos) {
      name = trim(part.substr(0, colon));
      auto w = parse_double(part.substr(colon + 1));
      if (!w || *w < 0) {
        return fail(ErrorCode::kInvalidArgument,
                    fmt::format("loss '{}': weight of '{}' must be a non-negative number", text, name));
      }
      weight = *w;
    }
    const std::string lower = to_lower(name);
    if (lower == "bce") spec.bce += weight;
    else if (lower == "dice") spec.dice += weight;
    else if (lower == "focal") spec.focal += weight;
    else if (lower == "lovasz") spec.lovasz += weight;
    else
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("loss '{}': unknown term '{}' (expected bce, dice, focal, lovasz)", text, name));
  }
  if (spec.bce + spec.dice + spec.focal + spec.lovasz <= 0) {
    return fail(ErrorCode::kInvalidArgument, fmt::format("loss '{}': no term with a positive weight", text));
  }
  return spec;
}

int default_min_component_area(std::int64_t input_size) {
  const double scale = static_cast<double>(input_size) / 1024.0;
  return static_cast<int>(std::lround(2048.0 * scale * scale));
}

TrainConfig default_train_config() {
  TrainConfig c;
  c.model.arch = "unet";
  c.model.encoder = "mobilenet_v2";
  c.model.in_channels = 1;
  c.model.input_size = 256;
  c.model.normalisation = default_normalisation(1);
  c.model.thresholds.min_component_area = default_min_component_area(c.model.input_size);
  c.schedule.kind = "plateau";
  c.schedule.base_lr = 1e-3;
  c.schedule.warmup_epochs = 1.0;
  c.schedule.plateau_patience = 2;
  c.sampler.kind = SamplerKind::kPositiveShare;
  c.sampler.share_schedule = {{0, 0.8}, {4, 0.6}, {8, 0.5}};
  c.sampler.interpolation = ScheduleInterpolation::kStep;
  return c;
}

Status validate(const TrainConfig& c) {
  auto bad = [](std::string msg) { return fail(ErrorCode::kInvalidArgument, std::move(msg)); };
  if (auto st = validate_model_config(c.model); !st) return st;
  if (auto st = validate(c.schedule); !st) return st;
  if (auto st = validate(c.augment); !st) return st;
  if (c.folds < 2) return bad(fmt::format("folds: {} — need at least 2 to hold one out for validation", c.folds));
  if (c.fold < 0 || c.fold >= c.folds) return bad(fmt::format("fold: {} is not in [0, {})", c.fold, c.folds));
  if (c.epochs < 1) return bad("epochs must be >= 1");
  if (c.batch < 1) return bad("batch must be >= 1");
  if (c.accumulate < 1) return bad("accumulate must be >= 1");
  if (c.workers < 1) return bad("workers must be >= 1");
  if (c.optimizer != "adam" && c.optimizer != "adamw" && c.optimizer != "sgd")
    return bad("optimizer '" + c.optimizer + "': expected adam, adamw or sgd");
  if (c.device != "cpu" && c.device != "cuda" && c.device != "auto")
    return bad("device '" + c.device + "': expected cpu, cuda or auto");
  if (c.loss.bce + c.loss.dice + c.loss.focal + c.loss.lovasz <= 0) return bad("loss: no term with a positive weight");
  if (c.image_loss_weight < 0) return bad("image_loss_weight must be >= 0");
  if (c.threads < 0) return bad("threads must be >= 0");
  for (int k : c.holdout_folds) {
    if (k < 0 || k >= c.folds) return bad(fmt::format("holdout fold {} is not in [0, {})", k, c.folds));
    if (k == c.fold) return bad(fmt::format("holdout fold {} is the validation fold", k));
  }
  return ok_status();
}

namespace {
nlohmann::json paths_to_json(const std::vector<std::filesystem::path>& paths) {
  auto out = nlohmann::json::array();
  for (const auto& p : paths) out.push_back(p.string());
  return out;
}
}  // namespace

nlohmann::json to_json(const TrainConfig& c) {
  return {
      {"model", to_json(c.model)},
      {"csv", c.csv.string()},
      {"data_dirs", paths_to_json(c.data_dirs)},
      {"train_only_dirs", paths_to_json(c.train_only_dirs)},
      {"holdout_folds", c.holdout_folds},
      {"folds_csv", c.folds_csv.string()},
      {"cache_dir", c.cache_dir.string()},
      {"folds", c.folds},
      {"fold", c.fold},
      {"fold_seed", c.fold_seed},
      {"epochs", c.epochs},
      {"batch", c.batch},
      {"accumulate", c.accumulate},
      {"optimizer", c.optimizer},
      {"weight_decay", c.weight_decay},
      {"momentum", c.momentum},
      {"encoder_lr_scale", c.encoder_lr_scale},
      {"schedule", to_json(c.schedule)},
      {"loss", c.loss.to_string()},
      {"focal_gamma", c.loss.focal_gamma},
      {"image_loss_weight", c.image_loss_weight},
      {"freeze_encoder_epochs", c.freeze_encoder_epochs},
      {"early_stop_patience", c.early_stop_patience},
      {"amp", c.amp},
      {"encoder_weights", c.encoder_weights.string()},
      {"augment", augment_config_to_json(c.augment)},
      {"sampler", sampler_config_to_json(c.sampler)},
      {"hard_examples_csv", c.hard_examples_csv.string()},
      {"workers", c.workers},
      {"max_batches_per_epoch", c.max_batches_per_epoch},
      {"device", c.device},
      {"threads", c.threads},
      {"seed", c.seed},
      {"out_dir", c.out_dir.string()},
  };
}

namespace {

// An integer setting: a JSON integer that fits T. nullopt when fine (or absent), else what is wrong.
template <typename T>
std::optional<std::string> read_integer(const nlohmann::json& j, const char* key, T& out) {
  if (!j.contains(key)) return std::nullopt;
  const nlohmann::json& v = j[key];
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (std::in_range<T>(u)) {
      out = static_cast<T>(u);
      return std::nullopt;
    }
  } else if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (std::in_range<T>(i)) {
      out = static_cast<T>(i);
      return std::nullopt;
    }
  }
  return fmt::format("{}: {} is not an integer in [{}, {}]", key, v.dump(), std::numeric_limits<T>::min(),
                     std::numeric_limits<T>::max());
}

}  // namespace

Result<TrainConfig> train_config_from_json(const nlohmann::json& j, std::string_view source, const TrainConfig& base) {
  if (!j.is_object()) return fail(ErrorCode::kBadInput, fmt::format("{}: expected a JSON object", source));
  static const std::set<std::string> kKeys = {
      "model", "csv", "dicom_dir", "data_dirs", "train_only_dirs", "holdout_folds", "folds_csv", "cache_dir", "folds", "fold", "fold_seed", "epochs", "batch",
      "accumulate", "optimizer", "weight_decay", "momentum", "encoder_lr_scale", "schedule", "loss", "focal_gamma",
      "image_loss_weight", "freeze_encoder_epochs", "early_stop_patience", "amp", "encoder_weights", "augment",
      "sampler", "hard_examples_csv", "workers", "max_batches_per_epoch", "device", "threads", "seed", "out_dir"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!kKeys.count(it.key())) return fail(ErrorCode::kBadInput, fmt::format("{}: unknown key '{}'", source, it.key()));
  }
  TrainConfig c = base;
  try {
    if (j.contains("model")) {
      auto merged = to_json(base.model);
      merged.merge_patch(j["model"]);
      auto model = model_config_from_json(merged, fmt::format("{}: model", source));
      if (!model) return model.error();
      c.model = model.value();
    }
    auto path = [&](const char* key, std::filesystem::path& out) {
      if (j.contains(key)) out = j[key].get<std::string>();
    };
    auto path_list = [&](const char* key, std::vector<std::filesystem::path>& out) {
      if (!j.contains(key)) return;
      out.clear();
      for (const auto& item : j[key]) out.emplace_back(item.get<std::string>());
    };
    path("csv", c.csv);
    if (j.contains("dicom_dir")) c.data_dirs = {j["dicom_dir"].get<std::string>()};  // runs before data_dirs existed
    path_list("data_dirs", c.data_dirs);
    path_list("train_only_dirs", c.train_only_dirs);
    if (j.contains("holdout_folds")) {
      const auto& list = j["holdout_folds"];
      if (!list.is_array()) return fail(ErrorCode::kBadInput, fmt::format("{}: holdout_folds: expected an array", source));
      c.holdout_folds.clear();
      for (const auto& item : list) {
        if (!item.is_number_integer() || !std::in_range<int>(item.get<std::int64_t>())) {
          return fail(ErrorCode::kBadInput, fmt::format("{}: holdout_folds: {} is not a fold number", source, item.dump()));
        }
        c.holdout_folds.push_back(static_cast<int>(item.get<std::int64_t>()));
      }
    }
    path("folds_csv", c.folds_csv);
    path("cache_dir", c.cache_dir);
    path("encoder_weights", c.encoder_weights);
    path("hard_examples_csv", c.hard_examples_csv);
    path("out_dir", c.out_dir);
    // Integers through read_integer: j.value() converts 1e300 to int with undefined behaviour
    // (found by fuzz/train_config_fuzzer.cpp) and 3.7 silently to 3.
    std::optional<std::string> wrong;
    auto integer = [&](const char* key, auto& out) {
      if (!wrong) wrong = read_integer(j, key, out);
    };
    integer("folds", c.folds);
    integer("fold", c.fold);
    integer("fold_seed", c.fold_seed);
    integer("epochs", c.epochs);
    integer("batch", c.batch);
    integer("accumulate", c.accumulate);
    integer("freeze_encoder_epochs", c.freeze_encoder_epochs);
    integer("early_stop_patience", c.early_stop_patience);
    integer("workers", c.workers);
    integer("max_batches_per_epoch", c.max_batches_per_epoch);
    integer("threads", c.threads);
    integer("seed", c.seed);
    if (wrong) return fail(ErrorCode::kBadInput, fmt::format("{}: {}", source, *wrong));
    c.optimizer = j.value("optimizer", c.optimizer);
    c.weight_decay = j.value("weight_decay", c.weight_decay);
    c.momentum = j.value("momentum", c.momentum);
    c.encoder_lr_scale = j.value("encoder_lr_scale", c.encoder_lr_scale);
    c.image_loss_weight = j.value("image_loss_weight", c.image_loss_weight);
    c.amp = j.value("amp", c.amp);
    c.device = j.value("device", c.device);
    if (j.contains("schedule")) {
      auto merged = to_json(base.schedule);
      merged.merge_patch(j["schedule"]);
      auto schedule = lr_schedule_from_json(merged);
      if (!schedule) return fail(ErrorCode::kBadInput, fmt::format("{}: schedule: {}", source, schedule.error().message));
      c.schedule = schedule.value();
    }
    if (j.contains("loss")) {
      auto loss = parse_loss_spec(j["loss"].get<std::string>());
      if (!loss) return fail(ErrorCode::kBadInput, fmt::format("{}: {}", source, loss.error().message));
      c.loss = loss.value();
    }
    c.loss.focal_gamma = j.value("focal_gamma", c.loss.focal_gamma);
    if (j.contains("augment")) {
      const auto& a = j["augment"];
      auto augment = a.is_string() ? augment_preset(a.get<std::string>())
                                   : augment_config_from_json(a, fmt::format("{}: augment", source));
      if (!augment) return fail(ErrorCode::kBadInput, augment.error().message);
      c.augment = augment.value();
    }
    if (j.contains("sampler")) {
      auto sampler = sampler_config_from_json(j["sampler"], fmt::format("{}: sampler", source));
      if (!sampler) return sampler.error();
      c.sampler = sampler.value();
    }
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::kBadInput, fmt::format("{}: {}", source, e.what()));
  }
  if (auto st = validate(c); !st) return fail(st.error().code, fmt::format("{}: {}", source, st.error().message));
  return c;
}

}  // namespace pneumo
