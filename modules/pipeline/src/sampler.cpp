#include "pneumo/pipeline/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_map>

#include "pneumo/transforms/random.hpp"

using nlohmann::json;

namespace pneumo {
namespace {

constexpr std::uint64_t kSamplerStream = 0x5a3d1e;  // keeps sampler draws apart from augmentation's

void shuffle(std::vector<std::size_t>& v, std::mt19937_64& rng) {  // Fisher-Yates, portable
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[uniform_index(rng, i)]);
}

// `count` items from `pool`: whole shuffled passes, then the head of one more shuffled pass.
std::vector<std::size_t> draw_passes(const std::vector<std::size_t>& pool, std::size_t count, std::mt19937_64& rng) {
  std::vector<std::size_t> out;
  out.reserve(count);
  while (out.size() < count && !pool.empty()) {
    std::vector<std::size_t> pass = pool;
    shuffle(pass, rng);
    const std::size_t take = std::min(pass.size(), count - out.size());
    out.insert(out.end(), pass.begin(), pass.begin() + static_cast<std::ptrdiff_t>(take));
  }
  return out;
}

const char* kind_name(SamplerKind k) {
  switch (k) {
    case SamplerKind::kSequential: return "sequential";
    case SamplerKind::kShuffle: return "shuffle";
    case SamplerKind::kClassWeighted: return "class_weighted";
    case SamplerKind::kPositiveShare: return "positive_share";
  }
  return "?";
}

Error invalid(std::string_view source, const std::string& what) {
  return fail(ErrorCode::kInvalidArgument, std::string(source) + ": " + what);
}

}  // namespace

Result<Sampler> Sampler::create(std::vector<std::string> ids, std::vector<bool> positive, SamplerConfig config) {
  const std::string src = "sampler";
  if (ids.size() != positive.size()) {
    return invalid(src, "ids (" + std::to_string(ids.size()) + ") and labels (" + std::to_string(positive.size()) +
                            ") differ in length");
  }
  if (ids.empty()) return invalid(src, "the dataset is empty");
  if (config.world_size < 1) return invalid(src, "world_size: expected >= 1, got " + std::to_string(config.world_size));
  if (config.rank < 0 || config.rank >= config.world_size) {
    return invalid(src, "rank: expected in [0, " + std::to_string(config.world_size) + "), got " + std::to_string(config.rank));
  }
  if (config.hard_example_factor < 1) {
    return invalid(src, "hard_example_factor: expected >= 1, got " + std::to_string(config.hard_example_factor));
  }
  if (config.positive_weight < 0 || config.negative_weight < 0) return invalid(src, "class weights: expected >= 0");

  Sampler s;
  std::unordered_map<std::string, std::size_t> index_of;
  for (std::size_t i = 0; i < ids.size(); ++i) index_of.emplace(ids[i], i);
  std::vector<int> copies(ids.size(), 1);
  for (const auto& id : config.hard_example_ids) {
    auto it = index_of.find(id);
    if (it == index_of.end()) {
      ++s.unknown_hard_ids_;
    } else {
      copies[it->second] = config.hard_example_factor;  // listing an id twice does not compound
    }
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    for (int k = 0; k < copies[i]; ++k) {
      s.pool_.push_back(i);
      (positive[i] ? s.positive_pool_ : s.negative_pool_).push_back(i);
    }
  }

  if (config.kind == SamplerKind::kPositiveShare) {
    if (config.share_schedule.empty()) return invalid(src, "share_schedule: expected at least one {epoch, share}");
    for (std::size_t k = 0; k < config.share_schedule.size(); ++k) {
      const auto& m = config.share_schedule[k];
      if (!(m.share >= 0 && m.share <= 1)) {
        return invalid(src, "share_schedule[" + std::to_string(k) + "].share: " + std::to_string(m.share) + " is not in [0, 1]");
      }
      if (k > 0 && m.epoch <= config.share_schedule[k - 1].epoch) {
        return invalid(src, "share_schedule[" + std::to_string(k) + "].epoch: expected epochs in increasing order");
      }
      if (m.share > 0 && s.positive_pool_.empty()) return invalid(src, "share_schedule asks for positives, the dataset has none");
      if (m.share < 1 && s.negative_pool_.empty()) return invalid(src, "share_schedule asks for negatives, the dataset has none");
    }
  }
  if (config.kind == SamplerKind::kClassWeighted) {
    const bool auto_weights = config.positive_weight == 0 && config.negative_weight == 0;
    const double wp = auto_weights ? 1.0 : config.positive_weight;
    const double wn = auto_weights ? 1.0 : config.negative_weight;
    if ((s.positive_pool_.empty() || wp == 0) && (s.negative_pool_.empty() || wn == 0)) {
      return invalid(src, "class weights: every sample has weight 0");
    }
  }
  s.ids_ = std::move(ids);
  s.positive_ = std::move(positive);
  s.config_ = std::move(config);
  return s;
}

double Sampler::positive_share(int epoch) const {
  if (config_.kind != SamplerKind::kPositiveShare) {
    const double np = static_cast<double>(positive_pool_.size());
    const double nn = static_cast<double>(negative_pool_.size());
    if (config_.kind != SamplerKind::kClassWeighted) return np / (np + nn);
    const bool auto_weights = config_.positive_weight == 0 && config_.negative_weight == 0;
    if (auto_weights) return np > 0 && nn > 0 ? 0.5 : (np > 0 ? 1.0 : 0.0);
    const double wp = np * config_.positive_weight, wn = nn * config_.negative_weight;
    return wp / (wp + wn);
  }
  const auto& sched = config_.share_schedule;
  if (epoch <= sched.front().epoch) return sched.front().share;
  if (epoch >= sched.back().epoch) return sched.back().share;
  std::size_t k = 0;
  while (sched[k + 1].epoch <= epoch) ++k;  // sched[k].epoch <= epoch < sched[k+1].epoch
  if (config_.interpolation == ScheduleInterpolation::kStep) return sched[k].share;
  const double t = static_cast<double>(epoch - sched[k].epoch) / (sched[k + 1].epoch - sched[k].epoch);
  return sched[k].share + t * (sched[k + 1].share - sched[k].share);
}

std::vector<std::size_t> Sampler::epoch_order(int epoch) const {
  std::mt19937_64 rng(mix_seed(config_.seed, static_cast<std::uint64_t>(epoch), kSamplerStream));
  const std::size_t length = config_.epoch_length > 0 ? config_.epoch_length : pool_.size();
  std::vector<std::size_t> order;
  switch (config_.kind) {
    case SamplerKind::kSequential:
      order.reserve(length);
      for (std::size_t i = 0; i < length; ++i) order.push_back(pool_[i % pool_.size()]);
      break;
    case SamplerKind::kShuffle:
      order = draw_passes(pool_, length, rng);
      break;
    case SamplerKind::kClassWeighted: {
      const bool auto_weights = config_.positive_weight == 0 && config_.negative_weight == 0;
      // Auto: inverse class frequency, so both classes carry equal total weight.
      const double wp = auto_weights ? (positive_pool_.empty() ? 0.0 : 1.0 / positive_pool_.size()) : config_.positive_weight;
      const double wn = auto_weights ? (negative_pool_.empty() ? 0.0 : 1.0 / negative_pool_.size()) : config_.negative_weight;
      std::vector<double> cumulative(pool_.size());
      double total = 0;
      for (std::size_t k = 0; k < pool_.size(); ++k) {
        total += positive_[pool_[k]] ? wp : wn;
        cumulative[k] = total;
      }
      order.reserve(length);
      for (std::size_t i = 0; i < length; ++i) {
        const double u = uniform01(rng) * total;
        auto it = std::upper_bound(cumulative.begin(), cumulative.end(), u);
        if (it == cumulative.end()) --it;
        order.push_back(pool_[static_cast<std::size_t>(it - cumulative.begin())]);
      }
      break;
    }
    case SamplerKind::kPositiveShare: {
      const auto n_pos = static_cast<std::size_t>(std::llround(positive_share(epoch) * static_cast<double>(length)));
      order = draw_passes(positive_pool_, n_pos, rng);
      const std::vector<std::size_t> neg = draw_passes(negative_pool_, length - n_pos, rng);
      order.insert(order.end(), neg.begin(), neg.end());
      shuffle(order, rng);
      break;
    }
  }
  return order;
}

std::vector<std::size_t> Sampler::epoch_indices(int epoch) const {
  std::vector<std::size_t> order = epoch_order(epoch);
  const auto world = static_cast<std::size_t>(config_.world_size);
  if (world == 1 || order.empty()) return order;
  const std::size_t per_rank = (order.size() + world - 1) / world;
  const std::size_t padded = per_rank * world;
  for (std::size_t i = 0; order.size() < padded; ++i) order.push_back(order[i]);  // i < original size
  std::vector<std::size_t> mine;
  mine.reserve(per_rank);
  for (std::size_t i = static_cast<std::size_t>(config_.rank); i < padded; i += world) mine.push_back(order[i]);
  return mine;
}

std::string Sampler::dataset_fingerprint() const {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto feed = [&](unsigned char b) {
    h ^= b;
    h *= 0x100000001b3ULL;
  };
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    for (char c : ids_[i]) feed(static_cast<unsigned char>(c));
    feed(positive_[i] ? 1 : 0);
    feed('\n');
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

json sampler_config_to_json(const SamplerConfig& c) {
  json schedule = json::array();
  for (const auto& m : c.share_schedule) schedule.push_back({{"epoch", m.epoch}, {"share", m.share}});
  return json{{"kind", kind_name(c.kind)},
              {"seed", c.seed},
              {"epoch_length", c.epoch_length},
              {"positive_weight", c.positive_weight},
              {"negative_weight", c.negative_weight},
              {"share_schedule", schedule},
              {"interpolation", c.interpolation == ScheduleInterpolation::kLinear ? "linear" : "step"},
              {"hard_example_ids", c.hard_example_ids},
              {"hard_example_factor", c.hard_example_factor},
              {"rank", c.rank},
              {"world_size", c.world_size}};
}

Result<SamplerConfig> sampler_config_from_json(const json& j, std::string_view source) {
  if (!j.is_object()) return invalid(source, "expected a JSON object, got " + j.dump());
  SamplerConfig c;
  std::string key;
  try {
    for (const auto& item : j.items()) {
      key = item.key();
      const json& v = item.value();
      if (key == "kind") {
        const std::string k = v.get<std::string>();
        if (k == "sequential") c.kind = SamplerKind::kSequential;
        else if (k == "shuffle") c.kind = SamplerKind::kShuffle;
        else if (k == "class_weighted") c.kind = SamplerKind::kClassWeighted;
        else if (k == "positive_share") c.kind = SamplerKind::kPositiveShare;
        else return invalid(source, "kind: expected sequential, shuffle, class_weighted or positive_share, got \"" + k + "\"");
      } else if (key == "seed") {
        c.seed = v.get<std::uint64_t>();
      } else if (key == "epoch_length") {
        c.epoch_length = v.get<std::size_t>();
      } else if (key == "positive_weight") {
        c.positive_weight = v.get<double>();
      } else if (key == "negative_weight") {
        c.negative_weight = v.get<double>();
      } else if (key == "share_schedule") {
        if (!v.is_array()) return invalid(source, "share_schedule: expected an array of {\"epoch\", \"share\"}");
        for (const auto& m : v) c.share_schedule.push_back({m.at("epoch").get<int>(), m.at("share").get<double>()});
      } else if (key == "interpolation") {
        const std::string k = v.get<std::string>();
        if (k == "step") c.interpolation = ScheduleInterpolation::kStep;
        else if (k == "linear") c.interpolation = ScheduleInterpolation::kLinear;
        else return invalid(source, "interpolation: expected step or linear, got \"" + k + "\"");
      } else if (key == "hard_example_ids") {
        c.hard_example_ids = v.get<std::vector<std::string>>();
      } else if (key == "hard_example_factor") {
        c.hard_example_factor = v.get<int>();
      } else if (key == "rank") {
        c.rank = v.get<int>();
      } else if (key == "world_size") {
        c.world_size = v.get<int>();
      } else {
        return invalid(source, key + ": unknown key");
      }
    }
  } catch (const json::exception& e) {
    return invalid(source, key + ": wrong type (" + e.what() + ")");
  }
  return c;
}

json Sampler::save(const SamplerState& state) const {
  return json{{"config", sampler_config_to_json(config_)},
              {"epoch", state.epoch},
              {"position", state.position},
              {"dataset_size", ids_.size()},
              {"dataset_fingerprint", dataset_fingerprint()}};
}

Result<std::pair<Sampler, SamplerState>> Sampler::restore(const json& saved, std::vector<std::string> ids,
                                                         std::vector<bool> positive) {
  const std::string src = "sampler state";
  if (!saved.is_object() || !saved.contains("config")) return invalid(src, "expected an object with \"config\"");
  auto config = sampler_config_from_json(saved["config"], "sampler state: config");
  if (!config) return config.error();
  SamplerState state;
  std::string fingerprint;
  try {
    state.epoch = saved.at("epoch").get<int>();
    state.position = saved.at("position").get<std::size_t>();
    fingerprint = saved.at("dataset_fingerprint").get<std::string>();
  } catch (const json::exception& e) {
    return invalid(src, std::string("epoch/position/dataset_fingerprint: ") + e.what());
  }
  auto sampler = Sampler::create(std::move(ids), std::move(positive), std::move(*config));
  if (!sampler) return sampler.error();
  if (sampler->dataset_fingerprint() != fingerprint) {
    return invalid(src, "dataset_fingerprint: saved " + fingerprint + ", current dataset " +
                            sampler->dataset_fingerprint() + " (ids or labels changed; cannot resume)");
  }
  return std::make_pair(std::move(*sampler), state);
}

}  // namespace pneumo
