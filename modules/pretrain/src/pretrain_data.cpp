// The pre-training image set: index, folds as `pneumo train` assigns them, labels, cache. No LibTorch.
#include "pretrain_data.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <set>
#include <unordered_set>

#include "pneumo/core/files.hpp"
#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/dataset/folds.hpp"
#include "pneumo/pipeline/cache.hpp"
#include "pneumo/pretrain/chestxray_csv.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pneumo::pretrain_detail {

Result<Collected> collect_images(const PretrainConfig& c, bool need_labels, bool progress) {
  Collected out;
  std::optional<MultiLabelTable> multi;
  if (!c.csv.empty()) {
    auto text = read_file(c.csv);
    if (!text) return text.error();
    if (looks_like_chestxray14_csv(*text)) {
      auto table = parse_chestxray14_csv(*text, c.csv.string());
      if (!table) return table.error();
      multi = std::move(table.value());
      out.labels = LabelKind::kChestXray14;
    } else {
      out.labels = LabelKind::kSiim;
    }
  }
  if (!c.holdout_folds.empty() && out.labels != LabelKind::kSiim) {
    return fail(ErrorCode::kInvalidArgument, "pretrain: --holdout-fold needs a SIIM train-rle.csv (folds as `pneumo train`)");
  }
  IndexOptions index_options;
  index_options.threads = c.threads;
  index_options.progress = progress;
  auto index_of = [&](const std::vector<fs::path>& dirs) -> Result<DatasetIndex> {
    if (out.labels == LabelKind::kSiim) return build_dataset_index(c.csv, dirs, index_options);
    return build_dataset_index(LabelTable{}, LabelCsvOptions{}, dirs, index_options);
  };

  std::unordered_set<std::string> seen;
  long long held_out = 0, unlabelled = 0, scanned = 0;
  auto add = [&](const DatasetIndex& index, const IndexedImage& image) {
    if (image.duplicate || !seen.insert(image.image_id()).second) return;
    Item item{image.image_id(), image.path, {}, {}};
    if (out.labels == LabelKind::kSiim) {
      if (const ImageLabel* label = index.label_of(image)) {
        item.rle_rows = label->encodings;
        item.targets = {label->positive() ? 1.0f : 0.0f};
      }
    } else if (out.labels == LabelKind::kChestXray14) {
      const MultiLabelRow* row = multi->find(image.path.filename().string());
      if (!row) row = multi->find(image.path.stem().string() + ".png");
      if (row) item.targets.assign(row->labels.begin(), row->labels.end());
    }
    if (item.targets.empty()) ++unlabelled;
    if (need_labels && item.targets.empty()) return;
    out.items.push_back(std::move(item));
  };

  if (!c.data_dirs.empty()) {
    auto index = index_of(c.data_dirs);
    if (!index) return index.error();
    scanned += static_cast<long long>(index->images.size());
    std::unordered_map<std::string, int> fold_of;
    if (!c.holdout_folds.empty()) {
      auto folds = folds_for(index.value(), /*folds_csv=*/{}, c.folds, c.fold_seed);
      if (!folds) return folds.error();
      for (const auto& f : folds.value()) fold_of[f.image_id] = f.fold;
    }
    const std::set<int> holdout(c.holdout_folds.begin(), c.holdout_folds.end());
    for (const auto& image : index->images) {
      auto it = fold_of.find(image.image_id());
      if (it != fold_of.end() && holdout.count(it->second)) {
        seen.insert(image.image_id());
        ++held_out;
        continue;
      }
      add(index.value(), image);
    }
  }
  if (!c.train_only_dirs.empty()) {
    auto index = index_of(c.train_only_dirs);
    if (!index) return index.error();
    scanned += static_cast<long long>(index->images.size());
    for (const auto& image : index->images) add(index.value(), image);
  }
  std::string dirs;
  for (const auto& d : c.data_dirs) dirs += (dirs.empty() ? "" : ", ") + d.string();
  for (const auto& d : c.train_only_dirs) dirs += (dirs.empty() ? "" : ", ") + d.string();
  if (scanned == 0) return fail(ErrorCode::kBadInput, dirs + ": no readable DICOM, PNG or JPEG files found");
  if (out.items.empty()) {
    return fail(ErrorCode::kBadInput, need_labels ? dirs + ": none of the images has a label in " + c.csv.string()
                                                  : dirs + ": every image was held out");
  }
  if (c.max_images > 0 && static_cast<std::size_t>(c.max_images) < out.items.size()) {
    std::vector<std::size_t> order(out.items.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(c.seed ^ 0x5eedf00dULL);
    std::shuffle(order.begin(), order.end(), rng);
    order.resize(c.max_images);
    std::sort(order.begin(), order.end());
    std::vector<Item> kept;
    for (auto i : order) kept.push_back(std::move(out.items[i]));
    out.items = std::move(kept);
  }
  out.report = {{"scanned_files", scanned},
                {"held_out", held_out},
                {"unlabelled", unlabelled},
                {"used", out.items.size()},
                {"labels", out.labels == LabelKind::kSiim ? "siim" : out.labels == LabelKind::kChestXray14 ? "chestxray14" : "none"}};
  return out;
}


Result<Data> load_data(const PretrainConfig& c, std::vector<Item> items, bool progress) {
  std::vector<SampleSource> sources;
  for (const auto& it : items) sources.push_back({it.id, it.path, it.rle_rows});
  CacheOptions cache;
  cache.cache_dir = c.cache_dir.empty() ? default_cache_dir(c.data_dirs.empty() ? c.train_only_dirs.front() : c.data_dirs.front())
                                        : c.cache_dir;
  cache.size = c.size;
  cache.threads = c.threads;
  cache.show_progress = progress;
  auto built = build_cache(sources, cache);
  if (!built) return built.error();
  for (const auto& e : built->errors) spdlog::warn("skipped: {}", e.message);
  if (built->entries.empty()) return fail(ErrorCode::kBadInput, "pretrain: no image could be decoded");
  std::unordered_map<std::string, std::size_t> by_id;
  for (std::size_t i = 0; i < items.size(); ++i) by_id[items[i].id] = i;
  Data data;
  for (const auto& e : built->entries) {
    data.index_of[e.image_id] = data.items.size();
    data.items.push_back(std::move(items[by_id.at(e.image_id)]));
  }
  auto store = SampleStore::from_cache(built->entries, SampleStore::kDefaultMemoryBudget, c.threads);
  if (!store) return store.error();
  data.store.emplace(std::move(store.value()));
  return data;
}

}  // namespace pneumo::pretrain_detail
