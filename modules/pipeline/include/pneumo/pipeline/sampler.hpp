// Epoch samplers: which dataset indices an epoch visits, in which order, on which rank.
//
//   pneumo::SamplerConfig cfg{.kind = pneumo::SamplerKind::kPositiveShare, .seed = 7,
//                             .share_schedule = {{0, 0.8}, {5, 0.6}, {10, 0.4}}};
//   auto sampler = pneumo::Sampler::create(ids, positives, cfg);   // Result
//   std::vector<std::size_t> order = sampler->epoch_indices(epoch);  // this rank's share
//
// Every order is a pure function of (config, dataset, epoch): no hidden state, so resuming is
// just "same config, same epoch, skip what was consumed". SamplerState records that position;
// sampler_state_to_json / Sampler::restore save and check it (restore refuses a changed dataset).
//
// Kinds (L = epoch_length, or the pool size when 0; the pool is every index once, plus
// hard_example_factor - 1 extra copies of each hard example):
//   kSequential    the pool in index order (validation), cycled/truncated to L.
//   kShuffle       a fresh permutation of the pool; for L > pool, further permutations appended.
//   kClassWeighted L draws with replacement, P(i) proportional to its class weight (both weights
//                  0 = inverse class frequency, i.e. balanced classes).
//   kPositiveShare round(share * L) positives and the rest negatives, each side drawn as whole
//                  shuffled passes over its pool plus a partial pass (so with replacement only when
//                  a side is too small), then shuffled together. share follows share_schedule:
//                  kStep holds each milestone's share until the next milestone; kLinear
//                  interpolates between milestones; before the first / after the last, the
//                  first / last share.
// Distributed (world_size > 1), as torch's DistributedSampler: the epoch order is padded to a
// multiple of world_size by repeating its beginning, and rank r takes positions r, r + W, ...;
// so ranks get disjoint, equal-length slices that together cover the whole order.
// Thread-safety: a Sampler is immutable after create(); its const methods may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

enum class SamplerKind { kSequential, kShuffle, kClassWeighted, kPositiveShare };
enum class ScheduleInterpolation { kStep, kLinear };

struct ShareMilestone {
  int epoch = 0;
  double share = 0.5;  // fraction of positives in [0, 1]
  bool operator==(const ShareMilestone&) const = default;
};

struct SamplerConfig {
  SamplerKind kind = SamplerKind::kShuffle;
  std::uint64_t seed = 0;
  std::size_t epoch_length = 0;  // 0 = pool size
  double positive_weight = 0;    // kClassWeighted
  double negative_weight = 0;
  std::vector<ShareMilestone> share_schedule;  // kPositiveShare; epochs strictly increasing
  ScheduleInterpolation interpolation = ScheduleInterpolation::kStep;
  std::vector<std::string> hard_example_ids;   // oversampled; ids not in the dataset are counted
  int hard_example_factor = 1;                 // each hard example appears this many times
  int rank = 0;
  int world_size = 1;
  bool operator==(const SamplerConfig&) const = default;
};

// Where a run stopped: `position` samples of this rank's epoch `epoch` were consumed.
struct SamplerState {
  int epoch = 0;
  std::size_t position = 0;
};

class Sampler {
 public:
  // Errors (kInvalidArgument) name the field: sizes of ids/positive differ, empty dataset,
  // a share outside [0, 1], unordered schedule, a share needing positives when there are none,
  // rank outside [0, world_size), factor < 1, negative weights.
  static Result<Sampler> create(std::vector<std::string> ids, std::vector<bool> positive, SamplerConfig config);

  // The whole epoch order, identical on every rank.
  std::vector<std::size_t> epoch_order(int epoch) const;
  // This rank's slice of epoch_order(epoch) (the whole order when world_size == 1).
  std::vector<std::size_t> epoch_indices(int epoch) const;
  // kPositiveShare: the scheduled share at `epoch`; other kinds: the expected share.
  double positive_share(int epoch) const;

  std::size_t dataset_size() const { return ids_.size(); }
  std::size_t unknown_hard_ids() const { return unknown_hard_ids_; }
  const SamplerConfig& config() const { return config_; }
  // Hash of ids and labels (16 hex digits): detects a changed dataset on resume.
  std::string dataset_fingerprint() const;

  // Saves config, state and dataset fingerprint.
  nlohmann::json save(const SamplerState& state) const;
  // Rebuilds the sampler from save()'s JSON; fails when the dataset fingerprint differs.
  static Result<std::pair<Sampler, SamplerState>> restore(const nlohmann::json& saved, std::vector<std::string> ids,
                                                          std::vector<bool> positive);

 private:
  Sampler() = default;
  std::vector<std::size_t> pool_;  // indices with hard-example multiplicity
  std::vector<std::size_t> positive_pool_, negative_pool_;
  std::vector<std::string> ids_;
  std::vector<bool> positive_;
  SamplerConfig config_;
  std::size_t unknown_hard_ids_ = 0;
};

nlohmann::json sampler_config_to_json(const SamplerConfig& config);
Result<SamplerConfig> sampler_config_from_json(const nlohmann::json& json, std::string_view source = "sampler config");

}  // namespace pneumo
