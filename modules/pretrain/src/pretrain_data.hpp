// Internal: the pre-training image set (index, folds, labels, cache), without LibTorch.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/core/result.hpp"
#include "pneumo/pipeline/loader.hpp"
#include "pneumo/pretrain/pretrain.hpp"

namespace pneumo::pretrain_detail {

// One pre-training image and, for the classifier, its targets.
struct Item {
  std::string id;
  std::filesystem::path path;
  std::vector<std::string> rle_rows;  // SIIM rows (kept so the cache entry matches `pneumo train`'s)
  std::vector<float> targets;         // classifier: 1 (SIIM) or 15 (ChestX-ray14) values; else empty
};

enum class LabelKind { kNone, kSiim, kChestXray14 };

struct Collected {
  std::vector<Item> items;
  LabelKind labels = LabelKind::kNone;
  nlohmann::json report;  // counts for pretrain.json
};

// The images of config.data_dirs (minus holdout folds) and train_only_dirs, with labels when the
// CSV has them; need_labels drops unlabelled ones. Errors: unreadable CSV, no images, no labels.
Result<Collected> collect_images(const PretrainConfig& config, bool need_labels, bool progress);

// The cached, resized images in memory, with the items in store order.
struct Data {
  std::optional<SampleStore> store;
  std::vector<Item> items;
  std::unordered_map<std::string, std::size_t> index_of;
};

// Decodes (or reuses) every item in the preprocessing cache at config.size; bad files are
// reported and skipped.
Result<Data> load_data(const PretrainConfig& config, std::vector<Item> items, bool progress);

}  // namespace pneumo::pretrain_detail
