#include "pneumo/infer/selection.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <unordered_map>

#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"
#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/dataset/folds.hpp"
#include "pneumo/pipeline/cache.hpp"

namespace fs = std::filesystem;

namespace pneumo {

namespace {

// A model trained with --train-only folders must never be scored on them: those images have no
// fold, were all trained on, and do not have the real class balance.
Status check_not_train_only(const std::vector<ModelFileInfo>& models, const ImageSelection& selection) {
  for (const auto& model : models) {
    const auto config = model.extra.find("train_config");
    if (config == model.extra.end() || !config->is_object() || !config->contains("train_only_dirs")) continue;
    for (const auto& item : (*config)["train_only_dirs"]) {
      if (!item.is_string()) continue;
      const fs::path train_only = item.get<std::string>();
      for (const auto& dir : selection.data_dirs) {
        std::error_code ec;
        if (fs::equivalent(train_only, dir, ec) && !ec) {
          return fail(ErrorCode::kInvalidArgument,
                      fmt::format("--data {}: {} was trained on this folder as --train-only; its images are never "
                                  "scored (give the folders that training split into folds)",
                                  dir.string(), model.path.filename().string()));
        }
      }
    }
  }
  return ok_status();
}

}  // namespace

Result<SelectedImages> load_selected_images(const ImageSelection& selection, int size, int threads, bool progress) {
  if (size < 8) return fail(ErrorCode::kInvalidArgument, fmt::format("scoring size {}: expected >= 8", size));
  if (selection.csv.empty()) return fail(ErrorCode::kInvalidArgument, "--csv FILE is required");
  if (selection.data_dirs.empty()) return fail(ErrorCode::kInvalidArgument, "--data DIR is required");
  IndexOptions index_options;
  index_options.threads = threads;
  index_options.progress = progress;
  auto index = build_dataset_index(selection.csv, selection.data_dirs, index_options);
  if (!index) return index.error();

  // fold_of stays empty without --fold: every matched image is selected.
  std::unordered_map<std::string, int> fold_of;
  if (selection.fold) {
    const int fold = *selection.fold;
    if (selection.folds_csv.empty() && (fold < 0 || fold >= selection.folds)) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("--fold {}: expected 0 .. {} (--folds {})", fold, selection.folds - 1, selection.folds));
    }
    auto selected_folds = folds_for(index.value(), selection.folds_csv, selection.folds, selection.fold_seed);
    if (!selected_folds) return selected_folds.error();
    const std::vector<FoldEntry>& folds = selected_folds.value();
    const bool any = std::any_of(folds.begin(), folds.end(), [&](const FoldEntry& f) { return f.fold == fold; });
    if (!any) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("--fold {}: no image is in that fold{}", fold,
                              selection.folds_csv.empty() ? "" : " of " + selection.folds_csv.string()));
    }
    for (const auto& f : folds) fold_of[f.image_id] = f.fold;
  }

  std::vector<SampleSource> sources;
  for (std::size_t i : index->matched_images()) {
    const IndexedImage& image = index->images[i];
    if (selection.fold) {
      auto it = fold_of.find(image.image_id());
      if (it == fold_of.end() || it->second != *selection.fold) continue;
    }
    SampleSource source{image.image_id(), image.path, {}};
    if (const ImageLabel* label = index->label_of(image)) source.rle_rows = label->encodings;
    sources.push_back(std::move(source));
  }
  if (sources.empty()) {
    return fail(ErrorCode::kBadInput,
                fmt::format("{}: no labelled, readable image matches {}{}", index->data_dirs_text(),
                            selection.csv.string(), selection.fold ? fmt::format(" in fold {}", *selection.fold) : ""));
  }

  CacheOptions cache_options;
  cache_options.cache_dir = selection.cache_dir.empty() ? default_cache_dir(selection.data_dirs.front()) : selection.cache_dir;
  cache_options.size = size;
  cache_options.threads = threads;
  cache_options.show_progress = progress;
  auto built = build_cache(sources, cache_options);
  if (!built) return built.error();

  SelectedImages out;
  out.size = size;
  for (const auto& e : built->errors) out.skipped.push_back(e.message);
  const std::vector<CacheEntry>& entries = built->entries;
  if (entries.empty()) {
    return fail(ErrorCode::kBadInput, fmt::format("none of the {} selected images could be decoded; first: {}",
                                                  sources.size(), out.skipped.empty() ? "?" : out.skipped[0]));
  }
  const std::size_t n = entries.size();
  std::unordered_map<std::string, const SampleSource*> source_of;
  for (const auto& source : sources) source_of.emplace(source.image_id, &source);
  out.source_rows.resize(n);
  out.source_cols.resize(n);
  out.rle_rows.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.source_rows[i] = entries[i].source_rows;
    out.source_cols[i] = entries[i].source_cols;
    out.rle_rows[i] = source_of.at(entries[i].image_id)->rle_rows;
  }
  out.ids.resize(n);
  out.images.resize(n);
  out.truths.resize(n);
  out.truth_labels.resize(n);
  std::vector<std::optional<Error>> errors(n);
  parallel_for(n, threads, [&](std::size_t i) {
    const CacheEntry& e = entries[i];
    auto image = read_png_gray(e.image_png);
    if (!image) {
      errors[i] = image.error();
      return;
    }
    auto mask = read_png_gray(e.mask_png);
    if (!mask) {
      errors[i] = mask.error();
      return;
    }
    if (image->rows != size || image->cols != size || mask->rows != size || mask->cols != size) {
      errors[i] = fail(ErrorCode::kBadInput, fmt::format("{}: cached image or mask is not {}x{}", e.image_id, size, size));
      return;
    }
    for (auto& px : mask->px) px = px ? 1 : 0;  // cached masks are 0/255
    out.ids[i] = e.image_id;
    out.images[i] = std::move(image.value());
    out.truths[i] = std::move(mask.value());
    out.truth_labels[i] = e.positive;
  });
  for (const auto& e : errors) {
    if (e) return fail(e->code, "preprocess cache: " + e->message);
  }
  return out;
}

Result<Mask> source_truth_mask(const SelectedImages& selected, std::size_t i) {
  Mask mask(selected.source_rows.at(i), selected.source_cols.at(i));
  const auto& rows = selected.rle_rows.at(i);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const std::string_view row = trim(rows[r]);
    if (row.empty() || row == "-1") continue;
    if (auto st = decode_rle_into(row, mask, RleFormat::kRelative); !st) {
      return fail(st.error().code, fmt::format("{}: RLE row {} at {}x{}: {}", selected.ids.at(i), r + 1, mask.rows,
                                               mask.cols, st.error().message));
    }
  }
  return mask;
}

Result<std::vector<ImagePrediction>> predict_all(const PredictFunction& predict, const std::vector<Image8>& images,
                                                 std::size_t batch, bool progress) {
  batch = std::max<std::size_t>(batch, 1);
  std::vector<ImagePrediction> out;
  out.reserve(images.size());
  Progress bar("predict", static_cast<long long>(images.size()), progress);
  for (std::size_t first = 0; first < images.size(); first += batch) {
    const std::size_t count = std::min(batch, images.size() - first);
    std::vector<Image8> chunk(images.begin() + static_cast<std::ptrdiff_t>(first),
                              images.begin() + static_cast<std::ptrdiff_t>(first + count));
    auto predicted = predict(chunk);
    if (!predicted) return predicted.error();
    if (predicted->size() != count) {
      return fail(ErrorCode::kInternal,
                  fmt::format("predict returned {} predictions for {} images", predicted->size(), count));
    }
    for (auto& p : predicted.value()) out.push_back(std::move(p));
    bar.tick(static_cast<long long>(count));
  }
  bar.finish();
  return out;
}

Result<PredictedSelection> predict_selection(const PredictorOptions& options, const ImageSelection& selection,
                                             bool progress) {
  auto predictor = Predictor::load(options);
  if (!predictor) return predictor.error();
  if (auto st = check_not_train_only(predictor->models(), selection); !st) return st.error();
  const int threads = options.threads > 0 ? options.threads : default_threads();
  auto selected = load_selected_images(selection, predictor->input_size(), threads, progress);
  if (!selected) return selected.error();
  for (const auto& s : selected->skipped) spdlog::warn("skipped: {}", s);
  auto predictions = predict_all([&](const std::vector<Image8>& batch) { return predictor->predict(batch); },
                                 selected->images, static_cast<std::size_t>(options.batch), progress);
  if (!predictions) return predictions.error();
  return PredictedSelection{std::move(predictor.value()), std::move(selected.value()), std::move(predictions.value()),
                            threads};
}

nlohmann::json selection_json(const ImageSelection& selection) {
  nlohmann::json j = {{"csv", selection.csv.string()}, {"data", nlohmann::json::array()}};
  for (const auto& dir : selection.data_dirs) j["data"].push_back(dir.string());
  if (!selection.fold) {
    j["fold"] = nullptr;  // every matched image
    return j;
  }
  j["fold"] = *selection.fold;
  if (selection.folds_csv.empty()) {
    j["folds"] = selection.folds;
    j["fold_seed"] = selection.fold_seed;
  } else {
    j["folds_csv"] = selection.folds_csv.string();
  }
  return j;
}

}  // namespace pneumo
