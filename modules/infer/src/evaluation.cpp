// `pneumo eval`: scoring, eval.json, report.md, plots, galleries and hard examples.
#include "pneumo/infer/evaluation.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "gallery.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/eval/metrics.hpp"
#include "pneumo/eval/search.hpp"
#include "pneumo/report/plot.hpp"
#include "pneumo/transforms/resize.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pneumo {
namespace {

json confusion_json(const ConfusionMatrix& cm) { return {{"tp", cm.tp}, {"fp", cm.fp}, {"tn", cm.tn}, {"fn", cm.fn}}; }

json metrics_json(const BinaryMetrics& m) {
  return {{"accuracy", m.accuracy}, {"precision", m.precision}, {"recall", m.recall},
          {"sensitivity", m.recall}, {"specificity", m.specificity}, {"f1", m.f1}};
}

json optional_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::string fmt_optional(const std::optional<double>& v) { return v ? fmt::format("{:.4f}", *v) : "n/a"; }

// Pixel thresholds of the sweep: 0.05, 0.10, ..., 0.95.
std::vector<float> sweep_thresholds() {
  std::vector<float> t;
  for (int k = 1; k <= 19; ++k) t.push_back(static_cast<float>(k) * 0.05f);
  return t;
}

Result<std::vector<ThresholdSweepPoint>> threshold_sweep(const SelectedImages& selected,
                                                         const std::vector<ImagePrediction>& predictions,
                                                         const PostprocessParams& params, int threads) {
  std::vector<EvalSample> samples(predictions.size());
  for (std::size_t i = 0; i < predictions.size(); ++i) {
    samples[i].truth = selected.truths[i];
    samples[i].probs = predictions[i].probability_map;
    samples[i].classifier_prob = predictions[i].classifier_probability;
  }
  SearchGrid grid;
  grid.triplet = false;
  grid.bottom_thresholds = sweep_thresholds();
  grid.min_component_areas = {params.min_component_area};
  grid.classifier_thresholds = {params.classifier_threshold};
  grid.threads = threads;
  auto searched = search_postprocess(samples, grid);
  if (!searched) return searched.error();
  std::vector<ThresholdSweepPoint> out;
  for (const auto& row : searched->table) out.push_back({row.params.pixel_threshold, row.mean_dice});
  return out;
}

// Positive images (non-empty truth) by Dice, ascending or best first, ties by id (records are
// sorted by id already), up to limit. Best first keeps found lesions only: a missed one (Dice 0)
// belongs to the fn gallery.
std::vector<std::size_t> positives_by_dice(const EvaluationSummary& s, std::size_t limit, bool best_first) {
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < s.records.size(); ++i) {
    if (!s.records[i].truth_mask_empty() && (!best_first || s.records[i].dice > 0)) idx.push_back(i);
  }
  std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
    return best_first ? s.records[a].dice > s.records[b].dice : s.records[a].dice < s.records[b].dice;
  });
  if (idx.size() > limit) idx.resize(limit);
  return idx;
}

std::string format_hard_examples(const EvaluationSummary& s, double low_dice_threshold) {
  std::string out = "ImageId,reason,dice\n";
  auto add_all = [&](const std::vector<std::size_t>& indices, const char* reason) {
    for (std::size_t i : indices) out += fmt::format("{},{},{:.4f}\n", s.records[i].image_id, reason, s.records[i].dice);
  };
  std::vector<std::size_t> fp, fn, low;
  for (std::size_t i = 0; i < s.records.size(); ++i) {
    const ImageRecord& r = s.records[i];
    if (r.truth_mask_empty() && !r.predicted_mask_empty()) fp.push_back(i);
    if (!r.truth_mask_empty() && r.predicted_mask_empty()) fn.push_back(i);
    if (!r.truth_mask_empty() && !r.predicted_mask_empty() && r.dice < low_dice_threshold) low.push_back(i);
  }
  std::stable_sort(low.begin(), low.end(), [&](std::size_t a, std::size_t b) { return s.records[a].dice < s.records[b].dice; });
  add_all(fp, "false_positive");
  add_all(fn, "false_negative");
  add_all(low, "low_dice");
  return out;
}

// Plot failures because gnuplot is missing become warnings; other failures are errors.
Status plot_or_warn(const Status& st, const std::string& name, std::vector<std::string>& warnings) {
  if (st) return st;
  if (st.error().code == ErrorCode::kUnsupported) {
    warnings.push_back(name + " not drawn: " + st.error().message);
    return ok_status();
  }
  return st;
}

Status write_plots(const fs::path& dir, const EvalReport& r, std::vector<std::string>& warnings,
                   std::vector<std::string>& drawn) {
  const EvaluationSummary& s = r.summary;
  auto note = [&](const Status& st, const std::string& file) -> Status {
    if (!st) return plot_or_warn(st, file, warnings);
    drawn.push_back(file);
    return st;
  };
  if (s.roc_auc) {
    PlotSeries roc{"ROC", {}, {}};
    for (const auto& p : s.roc) {
      roc.x.push_back(p.fpr);
      roc.y.push_back(p.tpr);
    }
    PlotStyle style;
    style.ylabel = "true positive rate (sensitivity)";
    if (auto st = note(plot_lines(dir / "roc.png", fmt::format("ROC of the image probability (AUC {:.4f})", *s.roc_auc),
                                  "false positive rate (1 - specificity)",
                                  {roc, {"chance", {0.0, 1.0}, {0.0, 1.0}}}, style),
                       "roc.png");
        !st) {
      return st;
    }
    PlotSeries pr{"precision-recall", {}, {}};
    for (const auto& p : s.pr) {
      pr.x.push_back(p.recall);
      pr.y.push_back(p.precision);
    }
    style.ylabel = "precision";
    if (auto st = note(plot_lines(dir / "pr.png",
                                  fmt::format("Precision-recall of the image probability (AP {:.4f})", s.average_precision),
                                  "recall", {pr}, style),
                       "pr.png");
        !st) {
      return st;
    }
  } else {
    warnings.push_back("roc.png and pr.png not drawn: the images are all of one class, so AUC is undefined");
  }
  if (!r.threshold_sweep.empty()) {
    PlotSeries sweep{"mean Dice", {}, {}};
    for (const auto& p : r.threshold_sweep) {
      sweep.x.push_back(p.pixel_threshold);
      sweep.y.push_back(p.mean_dice);
    }
    PlotSeries baseline{"all empty", {sweep.x.front(), sweep.x.back()}, {r.empty_baseline_dice, r.empty_baseline_dice}};
    PlotStyle style;
    style.ylabel = "mean Dice";
    if (auto st = note(plot_lines(dir / "threshold_sweep.png", "Mean Dice vs pixel threshold", "pixel threshold",
                                  {sweep, baseline}, style),
                       "threshold_sweep.png");
        !st) {
      return st;
    }
  }
  {
    std::vector<std::string> labels;
    std::vector<double> values;
    const int bins = static_cast<int>(s.dice_histogram.size());
    for (int k = 0; k < bins; ++k) {
      labels.push_back(fmt::format("{:.1f}-{:.1f}", static_cast<double>(k) / bins, static_cast<double>(k + 1) / bins));
      values.push_back(static_cast<double>(s.dice_histogram[k]));
    }
    PlotStyle style;
    style.xlabel = "per-image Dice";
    style.ylabel = "images";
    if (auto st = note(plot_bars(dir / "dice_histogram.png", "Per-image Dice", labels, values, style),
                       "dice_histogram.png");
        !st) {
      return st;
    }
  }
  {
    const ConfusionMatrix& cm = s.mask_presence;
    PlotStyle style;
    style.ylabel = "images";
    if (auto st = note(plot_bars(dir / "confusion.png", "Confusion (positive = non-empty predicted mask)",
                                 {"TP", "FP", "TN", "FN"},
                                 {static_cast<double>(cm.tp), static_cast<double>(cm.fp), static_cast<double>(cm.tn),
                                  static_cast<double>(cm.fn)},
                                 style),
                       "confusion.png");
        !st) {
      return st;
    }
  }
  return ok_status();
}

std::string gallery_name(std::size_t rank, const std::string& image_id) {
  return fmt::format("{:02d}_{}.png", rank + 1, image_id);
}

Status write_galleries(const fs::path& dir, const SelectedImages& selected,
                       const std::vector<ImagePrediction>& predictions, const EvalReport& r,
                       std::vector<std::pair<std::string, std::vector<std::string>>>& written) {
  std::error_code ec;
  fs::remove_all(dir, ec);  // stale overlays of an earlier run must not mix with these
  if (ec) return fail(ErrorCode::kIo, fmt::format("{}: cannot clear: {}", dir.string(), ec.message()));
  std::unordered_map<std::string, std::size_t> position;
  for (std::size_t i = 0; i < selected.ids.size(); ++i) position[selected.ids[i]] = i;
  const EvaluationSummary& s = r.summary;
  const std::vector<std::pair<std::string, const std::vector<std::size_t>*>> galleries = {
      {"fp", &s.false_positives},
      {"fn", &s.false_negatives},
      {"lowest", &r.lowest_dice_positives},
      {"best", &r.best_dice_positives}};
  for (const auto& [name, indices] : galleries) {
    const fs::path sub = dir / name;
    if (auto st = ensure_directory(sub); !st) return st;
    std::vector<std::string> files;
    for (std::size_t rank = 0; rank < indices->size(); ++rank) {
      const std::string& id = s.records[(*indices)[rank]].image_id;
      const std::size_t i = position.at(id);
      const std::string file = gallery_name(rank, id);
      if (auto st = detail::write_overlay_png(sub / file, selected.images[i], selected.truths[i], predictions[i].mask);
          !st) {
        return st;
      }
      files.push_back(file);
    }
    written.emplace_back(name, std::move(files));
  }
  return ok_status();
}

std::string format_report_md(const EvalReport& r, const EvalReportOptions& options,
                             const std::vector<std::string>& plots,
                             const std::vector<std::pair<std::string, std::vector<std::string>>>& galleries) {
  const EvaluationSummary& s = r.summary;
  const BinaryMetrics decision = binary_metrics(s.mask_presence);
  std::string md = "# Evaluation\n\n";
  const int model_size = r.json.value("scoring_size", 0);
  const bool at_source = r.json.value("scored_at", "") == "source";
  md += fmt::format("{} images ({} with pneumothorax, {} without), scored at {} (masks at the model input size "
                    "{}x{} px resized as `pneumo predict` writes them).\n\n",
                    s.images, s.positive_images, s.negative_images,
                    at_source ? "the source resolution, as Kaggle scored" : "the model input size", model_size,
                    model_size);
  md += "## Headline\n\n| metric | value |\n|---|---|\n";
  md += fmt::format("| mean Dice (Kaggle){} | {:.4f} |\n", at_source ? ", source resolution" : "", s.mean_dice);
  if (at_source) {
    md += fmt::format("| mean Dice at the model size ({} px) | {:.4f} |\n", model_size, r.model_size_summary.mean_dice);
  }
  md += fmt::format("| baseline: every mask empty | {:.4f} |\n", r.empty_baseline_dice);
  md += fmt::format("| mean Dice, positive images | {:.4f} |\n", s.mean_dice_positive);
  md += fmt::format("| mean Dice, negative images (= share predicted empty) | {:.4f} |\n", s.mean_dice_negative);
  md += fmt::format("| mean IoU | {:.4f} |\n", s.mean_iou);
  md += fmt::format("| ROC AUC (image probability) | {} |\n", fmt_optional(s.roc_auc));
  md += fmt::format("| average precision | {:.4f} |\n", s.average_precision);
  md += fmt::format("| sensitivity (recall) | {:.4f} |\n", decision.recall);
  md += fmt::format("| specificity | {:.4f} |\n", decision.specificity);
  md += fmt::format("| precision | {:.4f} |\n", decision.precision);
  md += fmt::format("| accuracy | {:.4f} |\n", decision.accuracy);
  md += fmt::format("| F1 | {:.4f} |\n\n", decision.f1);
  md += "Decision metrics call an image positive when its post-processed mask is non-empty.\n\n";
  md += "## Confusion (mask presence)\n\n| | truth positive | truth negative |\n|---|---|---|\n";
  md += fmt::format("| predicted positive | {} (TP) | {} (FP) |\n", s.mask_presence.tp, s.mask_presence.fp);
  md += fmt::format("| predicted negative | {} (FN) | {} (TN) |\n\n", s.mask_presence.fn, s.mask_presence.tn);
  md += fmt::format("Image probability >= {:.2f}: TP {}, FP {}, TN {}, FN {}; sensitivity {:.4f}, specificity {:.4f}.\n\n",
                    s.classification_threshold, s.confusion.tp, s.confusion.fp, s.confusion.tn, s.confusion.fn,
                    s.classification.recall, s.classification.specificity);
  const PostprocessParams& p = options.postprocess;
  md += "## Post-processing\n\n";
  if (p.triplet) {
    md += fmt::format("Triplet rule: top {:.2f}, min area {} px above it, bottom {:.2f}", p.top_threshold,
                      p.triplet_min_area, p.bottom_threshold);
  } else {
    md += fmt::format("Pixel threshold {:.2f}", p.pixel_threshold);
  }
  md += fmt::format("; components under {} px removed; classifier gate {:.2f}.\n\n", p.min_component_area,
                    p.classifier_threshold);
  md += "## Models\n\n| file | arch | encoder | size | sha256 |\n|---|---|---|---|---|\n";
  for (const auto& m : options.models) {
    md += fmt::format("| {} | {} | {} | {} | `{}` |\n", m.path.filename().string(), m.arch, m.encoder, m.input_size,
                      m.sha256.substr(0, 16));
  }
  md += "\n## Plots\n\n";
  for (const auto& file : plots) md += fmt::format("![{}]({})\n\n", file, file);
  md += "## Galleries\n\nGreen: truth contour; red: prediction.\n\n";
  for (const auto& [name, files] : galleries) {
    md += fmt::format("### {} ({} shown)\n\n", name == "fp"       ? "False positives"
                                               : name == "fn"     ? "False negatives"
                                               : name == "lowest" ? "Lowest Dice among positives"
                                                                  : "Highest Dice among found lesions",
                      files.size());
    for (const auto& f : files) md += fmt::format("![{}](gallery/{}/{}) ", f, name, f);
    md += "\n\n";
  }
  md += "Hard examples (false positives, false negatives, positives with low Dice): `hard_examples.csv`, "
        "for `pneumo train --hard-examples`.\n";
  if (!r.warnings.empty()) {
    md += "\n## Warnings\n\n";
    for (const auto& w : r.warnings) md += "- " + w + "\n";
  }
  return md;
}

}  // namespace

Result<EvalReport> score_predictions(const SelectedImages& selected, const std::vector<ImagePrediction>& predictions,
                                     const EvalReportOptions& options) {
  const std::size_t n = selected.ids.size();
  if (predictions.size() != n || selected.truths.size() != n || selected.truth_labels.size() != n) {
    return fail(ErrorCode::kInvalidArgument,
                fmt::format("evaluation: {} predictions for {} images", predictions.size(), n));
  }
  for (std::size_t i = 0; i < n; ++i) {
    const ImagePrediction& p = predictions[i];
    if (p.mask.rows != selected.size || p.mask.cols != selected.size || p.probability_map.rows != selected.size ||
        p.probability_map.cols != selected.size) {
      return fail(ErrorCode::kInvalidArgument,
                  fmt::format("evaluation: image {}: prediction mask {}x{} / map {}x{}, expected both {}x{}",
                              selected.ids[i], p.mask.rows, p.mask.cols, p.probability_map.rows,
                              p.probability_map.cols, selected.size, selected.size));
    }
  }
  const int threads = options.threads > 0 ? options.threads : default_threads();
  SegmentationEvaluator evaluator(/*classification_threshold=*/0.5f);
  std::vector<std::optional<Error>> errors(n);
  parallel_for(n, threads, [&](std::size_t i) {
    auto st = evaluator.add(selected.ids[i], selected.truths[i], predictions[i].mask, predictions[i].image_probability,
                            selected.truth_labels[i]);
    if (!st) errors[i] = st.error();
  });
  for (const auto& e : errors) {
    if (e) return *e;
  }
  EvalReport r;
  r.model_size_summary = evaluator.summary(options.gallery_size);
  // Kaggle scored masks at the source resolution: the truth decoded from the label rows at the
  // image's own size, the prediction resized there exactly as `pneumo predict` writes it.
  const bool at_source = selected.rle_rows.size() == n && selected.source_rows.size() == n && n > 0;
  if (at_source) {
    SegmentationEvaluator source_evaluator(/*classification_threshold=*/0.5f);
    parallel_for(n, threads, [&](std::size_t i) {
      auto truth = source_truth_mask(selected, i);
      if (!truth) {
        errors[i] = truth.error();
        return;
      }
      const Mask predicted = resize_mask(predictions[i].mask, truth->rows, truth->cols);
      auto st = source_evaluator.add(selected.ids[i], truth.value(), predicted, predictions[i].image_probability,
                                     selected.truth_labels[i]);
      if (!st) errors[i] = st.error();
    });
    for (const auto& e : errors) {
      if (e) return *e;
    }
    r.summary = source_evaluator.summary(options.gallery_size);
  } else {
    r.summary = r.model_size_summary;
  }
  const EvaluationSummary& s = r.summary;
  r.empty_baseline_dice = s.images ? static_cast<double>(s.negative_images) / static_cast<double>(s.images) : 0.0;
  r.lowest_dice_positives = positives_by_dice(s, options.gallery_size, /*best_first=*/false);
  r.best_dice_positives = positives_by_dice(s, options.gallery_size, /*best_first=*/true);
  auto sweep = threshold_sweep(selected, predictions, options.postprocess, threads);
  if (!sweep) return sweep.error();
  r.threshold_sweep = std::move(sweep.value());

  const BinaryMetrics decision = binary_metrics(s.mask_presence);
  json j = {{"n_images", s.images},
            {"n_positive", s.positive_images},
            {"n_negative", s.negative_images},
            {"scoring_size", selected.size},
            {"scored_at", at_source ? "source" : "model_size"},
            {"mean_dice", s.mean_dice},
            {"iou", s.mean_iou},
            {"mean_dice_positive", s.mean_dice_positive},
            {"mean_dice_negative", s.mean_dice_negative},
            {"empty_baseline_dice", r.empty_baseline_dice},
            {"auc", optional_json(s.roc_auc)},
            {"average_precision", s.average_precision},
            {"confusion", confusion_json(s.mask_presence)},
            {"dice_histogram", s.dice_histogram}};
  const json decision_json = metrics_json(decision);  // named: items() must not outlive a temporary
  for (const auto& [key, value] : decision_json.items()) j[key] = value;
  json image_level = metrics_json(s.classification);
  image_level["threshold"] = s.classification_threshold;
  image_level["confusion"] = confusion_json(s.confusion);
  j["image_level"] = image_level;
  const EvaluationSummary& m = r.model_size_summary;
  j["model_size"] = {{"size", selected.size},
                     {"mean_dice", m.mean_dice},
                     {"mean_dice_positive", m.mean_dice_positive},
                     {"mean_dice_negative", m.mean_dice_negative},
                     {"iou", m.mean_iou}};
  json sweep_json = json::array();
  for (const auto& p : r.threshold_sweep) sweep_json.push_back({{"pixel_threshold", p.pixel_threshold}, {"mean_dice", p.mean_dice}});
  j["threshold_sweep"] = sweep_json;
  j["postprocess"] = to_json(options.postprocess);
  json models = json::array();
  for (const auto& m : options.models) {
    models.push_back({{"path", m.path.string()},
                      {"sha256", m.sha256},
                      {"arch", m.arch},
                      {"encoder", m.encoder},
                      {"input_size", m.input_size}});
  }
  j["models"] = models;
  // Per image: enough to recompute every mask metric (Dice from the three areas).
  json per_image = json::array();
  for (const auto& rec : s.records) {
    per_image.push_back({{"image_id", rec.image_id},
                         {"truth_positive", rec.truth_label},
                         {"probability", rec.probability},
                         {"truth_area", rec.counts.truth_area},
                         {"predicted_area", rec.counts.predicted_area},
                         {"intersection", rec.counts.intersection},
                         {"dice", rec.dice}});
  }
  j["images"] = per_image;
  j["settings"] = options.settings;
  j["skipped"] = selected.skipped;
  r.json = std::move(j);
  return r;
}

Status write_evaluation_outputs(const SelectedImages& selected, const std::vector<ImagePrediction>& predictions,
                                EvalReport& report, const EvalReportOptions& options) {
  const fs::path& dir = options.out_dir;
  if (dir.empty()) return fail(ErrorCode::kInvalidArgument, "evaluation: --out DIR is required");
  if (auto st = ensure_directory(dir); !st) return st;
  std::vector<std::string> plots;
  if (auto st = write_plots(dir, report, report.warnings, plots); !st) return st;
  std::vector<std::pair<std::string, std::vector<std::string>>> galleries;
  if (auto st = write_galleries(dir / "gallery", selected, predictions, report, galleries); !st) return st;
  if (auto st = write_file_atomic(dir / "hard_examples.csv",
                                  format_hard_examples(report.summary, options.low_dice_threshold));
      !st) {
    return st;
  }
  report.json["warnings"] = report.warnings;
  if (auto st = write_file_atomic(dir / "eval.json", report.json.dump(2) + "\n"); !st) return st;
  return write_file_atomic(dir / "report.md", format_report_md(report, options, plots, galleries));
}

Result<EvalReport> run_evaluation(const EvalRunOptions& options) {
  auto run = predict_selection(options.predictor, options.selection, options.progress);
  if (!run) return run.error();
  const SelectedImages& selected = run->selected;
  const std::vector<ImagePrediction>& predictions = run->predictions;

  EvalReportOptions report_options;
  report_options.out_dir = options.out_dir;
  report_options.gallery_size = options.gallery_size;
  report_options.postprocess = run->predictor.postprocess();
  report_options.models = run->predictor.models();
  report_options.threads = run->threads;
  report_options.settings = {{"selection", selection_json(options.selection)},
                             {"hflip_tta", options.predictor.hflip_tta},
                             {"device", options.predictor.device}};
  auto report = score_predictions(selected, predictions, report_options);
  if (!report) return report.error();
  if (auto st = write_evaluation_outputs(selected, predictions, report.value(), report_options); !st) {
    return st.error();
  }
  for (const auto& w : report->warnings) spdlog::warn("{}", w);
  return report;
}

}  // namespace pneumo
