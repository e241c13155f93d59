#include "pneumo/train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

namespace pneumo {

Status validate(const LrScheduleConfig& c) {
  if (c.kind != "constant" && c.kind != "plateau" && c.kind != "cosine")
    return fail(ErrorCode::kInvalidArgument, "lr schedule '" + c.kind + "': expected constant, plateau or cosine");
  if (!(c.base_lr > 0)) return fail(ErrorCode::kInvalidArgument, "lr must be > 0");
  if (c.plateau_factor <= 0 || c.plateau_factor >= 1)
    return fail(ErrorCode::kInvalidArgument, "plateau factor must be in (0, 1)");
  if (c.cosine_period <= 0 || c.cosine_period_mult < 1)
    return fail(ErrorCode::kInvalidArgument, "cosine period must be > 0 and its multiplier >= 1");
  return ok_status();
}

nlohmann::json to_json(const LrScheduleConfig& c) {
  return {{"kind", c.kind},
          {"base_lr", c.base_lr},
          {"min_lr", c.min_lr},
          {"warmup_epochs", c.warmup_epochs},
          {"plateau_factor", c.plateau_factor},
          {"plateau_patience", c.plateau_patience},
          {"cosine_period", c.cosine_period},
          {"cosine_period_mult", c.cosine_period_mult}};
}

Result<LrScheduleConfig> lr_schedule_from_json(const nlohmann::json& j) {
  LrScheduleConfig c;
  try {
    c.kind = j.value("kind", c.kind);
    c.base_lr = j.value("base_lr", c.base_lr);
    c.min_lr = j.value("min_lr", c.min_lr);
    c.warmup_epochs = j.value("warmup_epochs", c.warmup_epochs);
    c.plateau_factor = j.value("plateau_factor", c.plateau_factor);
    c.plateau_patience = j.value("plateau_patience", c.plateau_patience);
    c.cosine_period = j.value("cosine_period", c.cosine_period);
    c.cosine_period_mult = j.value("cosine_period_mult", c.cosine_period_mult);
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::kBadInput, std::string("lr schedule: ") + e.what());
  }
  if (auto st = validate(c); !st) return st.error();
  return c;
}

LrSchedule::LrSchedule(LrScheduleConfig config) : config_(std::move(config)) {}

double LrSchedule::lr_at(double t) const {
  double lr = config_.base_lr;
  if (config_.kind == "plateau") {
    lr = std::max(config_.min_lr, config_.base_lr * plateau_scale_);
  } else if (config_.kind == "cosine") {
    // SGDR: find the position inside the current cycle.
    double period = config_.cosine_period;
    double start = 0.0;
    while (t >= start + period) {
      start += period;
      period *= config_.cosine_period_mult;
    }
    const double phase = (t - start) / period;
    lr = config_.min_lr + 0.5 * (config_.base_lr - config_.min_lr) * (1.0 + std::cos(M_PI * phase));
  }
  if (config_.warmup_epochs > 0 && t < config_.warmup_epochs) {
    const double ramp = 0.1 + 0.9 * (t / config_.warmup_epochs);
    lr *= ramp;
  }
  return lr;
}

void LrSchedule::on_epoch_end(double metric) {
  if (metric > best_metric_ + 1e-9) {
    best_metric_ = metric;
    epochs_without_improvement_ = 0;
    return;
  }
  if (++epochs_without_improvement_ > config_.plateau_patience && config_.kind == "plateau") {
    plateau_scale_ *= config_.plateau_factor;
    epochs_without_improvement_ = 0;
  }
}

nlohmann::json LrSchedule::state() const {
  return {{"plateau_scale", plateau_scale_},
          {"best_metric", best_metric_},
          {"epochs_without_improvement", epochs_without_improvement_}};
}

void LrSchedule::load_state(const nlohmann::json& s) {
  plateau_scale_ = s.value("plateau_scale", 1.0);
  best_metric_ = s.value("best_metric", -1e300);
  epochs_without_improvement_ = s.value("epochs_without_improvement", 0);
}

}  // namespace pneumo
