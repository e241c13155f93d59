#include "pneumo/infer/tuning.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/eval/metrics.hpp"
#include "pneumo/transforms/resize.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pneumo {
namespace {

// Areas given for 256 x 256 maps, scaled by pixel count to size x size.
std::vector<int> scaled_areas(const std::vector<int>& at_256, int size) {
  const double scale = (static_cast<double>(size) / 256.0) * (static_cast<double>(size) / 256.0);
  std::vector<int> out;
  for (int a : at_256) out.push_back(static_cast<int>(std::lround(a * scale)));
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const std::vector<int> kMinComponentAreasAt256 = {0, 32, 64, 128, 256, 512};
const std::vector<int> kTripletMinAreasAt256 = {0, 50, 100, 200, 400, 800};

double mean_dice_with(const std::vector<EvalSample>& samples, const PostprocessParams& params, int threads) {
  std::vector<double> dice_of(samples.size());
  parallel_for(samples.size(), threads, [&](std::size_t i) {
    dice_of[i] = dice(samples[i].truth, apply_postprocess(samples[i].probs, samples[i].classifier_prob, params));
  });
  return mean(dice_of);
}

// Kaggle Dice at the source size: post-processing at the model size, then the mask resized as
// the Predictor does it.
double source_dice_with(const std::vector<EvalSample>& samples, const std::vector<Mask>& source_truths,
                        const PostprocessParams& params, int threads) {
  std::vector<double> dice_of(samples.size());
  parallel_for(samples.size(), threads, [&](std::size_t i) {
    const Mask at_model = apply_postprocess(samples[i].probs, samples[i].classifier_prob, params);
    const Mask& truth = source_truths[i];
    dice_of[i] = dice(truth, resize_mask(at_model, truth.rows, truth.cols));
  });
  return mean(dice_of);
}

}  // namespace

SearchGrid plain_tune_grid(int size) {
  SearchGrid grid;
  grid.triplet = false;
  grid.bottom_thresholds.clear();
  for (int k = 2; k <= 18; ++k) grid.bottom_thresholds.push_back(static_cast<float>(k) * 0.05f);
  grid.min_component_areas = scaled_areas(kMinComponentAreasAt256, size);
  return grid;
}

SearchGrid triplet_tune_grid(int size) {
  SearchGrid grid;
  grid.triplet = true;
  grid.top_thresholds = {0.5f, 0.6f, 0.7f, 0.8f, 0.9f};
  grid.bottom_thresholds = {0.2f, 0.3f, 0.4f, 0.5f};
  grid.triplet_min_areas = scaled_areas(kTripletMinAreasAt256, size);
  grid.min_component_areas = scaled_areas(kMinComponentAreasAt256, size);
  return grid;
}

Result<TuneOutcome> tune_postprocess(const std::vector<EvalSample>& samples, const PostprocessParams& current,
                                     int threads, const std::vector<Mask>* source_truths) {
  if (samples.empty()) return fail(ErrorCode::kInvalidArgument, "tune: no images to tune on");
  if (source_truths && source_truths->size() != samples.size()) {
    return fail(ErrorCode::kInvalidArgument, fmt::format("tune: {} source truths for {} samples",
                                                         source_truths->size(), samples.size()));
  }
  const int size = samples[0].probs.rows;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (samples[i].probs.rows != size || samples[i].probs.cols != size) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("tune: sample {}: map {}x{}, expected {}x{} like the first", i, samples[i].probs.rows,
                              samples[i].probs.cols, size, size));
    }
  }
  threads = threads > 0 ? threads : default_threads();
  SearchGrid plain = plain_tune_grid(size);
  SearchGrid triplet = triplet_tune_grid(size);
  plain.threads = triplet.threads = threads;
  auto plain_result = search_postprocess(samples, plain);
  if (!plain_result) return plain_result.error();
  auto triplet_result = search_postprocess(samples, triplet);
  if (!triplet_result) return triplet_result.error();

  TuneOutcome out;
  out.current = current;
  out.images = samples.size();
  out.positives = static_cast<std::size_t>(std::count_if(
      samples.begin(), samples.end(), [](const EvalSample& s) { return count_nonzero(s.truth) > 0; }));
  out.grid_points = plain_result->table.size() + triplet_result->table.size();
  std::vector<SearchRow> all = plain_result->table;
  all.insert(all.end(), triplet_result->table.begin(), triplet_result->table.end());
  std::stable_sort(all.begin(), all.end(), [](const SearchRow& a, const SearchRow& b) { return a.mean_dice > b.mean_dice; });
  if (!source_truths) {
    out.dice_before = mean_dice_with(samples, current, threads);
    const SearchResult& winner =
        triplet_result->best_mean_dice > plain_result->best_mean_dice ? triplet_result.value() : plain_result.value();
    if (winner.best_mean_dice > out.dice_before + 1e-12) {
      out.best = winner.best_params;
      out.dice_after = winner.best_mean_dice;
      out.improved = !(out.best == current);
    } else {
      out.best = current;
      out.dice_after = out.dice_before;
    }
    out.model_size_dice_after = out.dice_after;
  } else {
    out.at_source = true;
    out.dice_before = source_dice_with(samples, *source_truths, current, threads);
    out.best = current;
    out.dice_after = out.dice_before;
    for (std::size_t k = 0; k < std::min(all.size(), kSourceRescored); ++k) {
      const double d = source_dice_with(samples, *source_truths, all[k].params, threads);
      if (d > out.dice_after + 1e-12) {
        out.best = all[k].params;
        out.dice_after = d;
      }
    }
    out.improved = !(out.best == current);
    out.model_size_dice_after = mean_dice_with(samples, out.best, threads);
  }
  if (all.size() > 20) all.resize(20);
  out.top = std::move(all);
  return out;
}

Result<TuneRunResult> run_tuning(const TuneRunOptions& options) {
  auto run = predict_selection(options.predictor, options.selection, options.progress);
  if (!run) return run.error();
  const int threads = run->threads;
  const Predictor& predictor = run->predictor;
  SelectedImages& selected = run->selected;
  std::vector<ImagePrediction>& predictions = run->predictions;

  std::vector<EvalSample> samples(predictions.size());
  std::vector<Mask> source_truths(predictions.size());
  std::vector<std::optional<Error>> errors(predictions.size());
  parallel_for(samples.size(), threads, [&](std::size_t i) {
    auto truth = source_truth_mask(selected, i);
    if (truth) source_truths[i] = std::move(truth.value());
    else errors[i] = truth.error();
  });
  for (const auto& e : errors) {
    if (e) return *e;
  }
  for (std::size_t i = 0; i < samples.size(); ++i) {
    samples[i].truth = std::move(selected.truths[i]);
    samples[i].probs = std::move(predictions[i].probability_map);
    samples[i].classifier_prob = predictions[i].classifier_probability;
  }
  auto outcome = tune_postprocess(samples, predictor.postprocess(), threads, &source_truths);
  if (!outcome) return outcome.error();

  TuneRunResult result;
  result.outcome = std::move(outcome.value());
  const TuneOutcome& o = result.outcome;
  json top = json::array();
  for (const auto& row : o.top) top.push_back({{"params", to_json(row.params)}, {"mean_dice", row.mean_dice}});
  json models = json::array();
  for (const auto& m : predictor.models()) models.push_back({{"path", m.path.string()}, {"sha256", m.sha256}});
  json note = {{"dice_before", o.dice_before},
               {"dice_after", o.dice_after},
               {"images", o.images},
               {"positive_images", o.positives},
               {"grid_points", o.grid_points},
               {"hflip_tta", options.predictor.hflip_tta},
               {"scoring_size", selected.size},
               {"scored_at", o.at_source ? "source" : "model_size"},
               {"model_size_dice_after", o.model_size_dice_after},
               {"selection", selection_json(options.selection)}};
  result.json = note;
  result.json["current"] = to_json(o.current);
  result.json["best"] = to_json(o.best);
  result.json["improved"] = o.improved;
  result.json["top"] = top;
  result.json["models"] = models;

  if (!options.dry_run && o.improved) {
    const auto& infos = predictor.models();
    auto target = std::find_if(infos.begin(), infos.end(), [](const ModelFileInfo& m) { return m.arch != "classifier"; });
    if (target == infos.end()) return fail(ErrorCode::kInternal, "tune: no segmenter among the loaded models");
    if (auto st = store_postprocess_in_model_file(target->path, o.best, note); !st) return st.error();
    result.written_to = target->path;
  }
  result.json["written_to"] = result.written_to ? json(result.written_to->string()) : json(nullptr);
  if (!options.out_dir.empty()) {
    if (auto st = ensure_directory(options.out_dir); !st) return st.error();
    if (auto st = write_file_atomic(options.out_dir / "tune.json", result.json.dump(2) + "\n"); !st) return st.error();
  }
  return result;
}

}  // namespace pneumo
