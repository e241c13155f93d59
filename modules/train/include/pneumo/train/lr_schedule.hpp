// Learning-rate schedules, independent of torch so they are cheap to test.
//
//   LrSchedule schedule(config);            // config.kind: "constant" | "plateau" | "cosine"
//   double lr = schedule.lr_at(epoch + step / double(steps_per_epoch));
//   schedule.on_epoch_end(val_metric);      // higher is better; drives ReduceLROnPlateau
//
// Linear warm-up applies to every kind. State round-trips through JSON for --resume.
// Not thread-safe (owned by one trainer).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct LrScheduleConfig {
  std::string kind = "plateau";  // constant | plateau | cosine (with warm restarts)
  double base_lr = 1e-3;
  double min_lr = 1e-6;
  double warmup_epochs = 0.0;   // linear ramp from base_lr/10 over this many epochs
  double plateau_factor = 0.1;  // ReduceLROnPlateau: multiply by this ...
  int plateau_patience = 2;     // ... after this many epochs without improvement
  double cosine_period = 10.0;  // epochs of the first cosine cycle (T_0)
  double cosine_period_mult = 1.0;  // each restart's period multiplier (T_mult)
  bool operator==(const LrScheduleConfig&) const = default;
};

Status validate(const LrScheduleConfig& config);
nlohmann::json to_json(const LrScheduleConfig& config);
Result<LrScheduleConfig> lr_schedule_from_json(const nlohmann::json& j);

class LrSchedule {
 public:
  explicit LrSchedule(LrScheduleConfig config);
  double lr_at(double epoch_progress) const;
  void on_epoch_end(double metric);
  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);

 private:
  LrScheduleConfig config_;
  double plateau_scale_ = 1.0;
  double best_metric_ = -1e300;
  int epochs_without_improvement_ = 0;
};

}  // namespace pneumo
