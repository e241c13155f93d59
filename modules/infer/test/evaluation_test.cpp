// The eval/tune glue without LibTorch: image selection (folds as training computes them),
// truth/prediction alignment, eval outputs and the tuning search, driven by fake predictors whose
// answers come from an independent decoding of the synthetic dataset (read_dicom + the label CSV).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/dataset/folds.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/eval/metrics.hpp"
#include "pneumo/infer/evaluation.hpp"
#include "pneumo/infer/selection.hpp"
#include "pneumo/infer/tuning.hpp"
#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/report/plot.hpp"
#include "pneumo/synth/synth.hpp"
#include "pneumo/transforms/resize.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace pneumo;

namespace {

constexpr int kSourceSize = 128;
constexpr int kScoreSize = 64;
constexpr int kCount = 16;

double mean_abs_diff(const Image8& a, const Image8& b) {
  if (a.rows != b.rows || a.cols != b.cols) return 1e9;
  double sum = 0;
  for (std::size_t i = 0; i < a.px.size(); ++i) sum += std::abs(int(a.px[i]) - int(b.px[i]));
  return sum / static_cast<double>(a.px.size());
}

// The cache may decode JPEGs straight to the small size (DCT scaling) rather than decode + resize,
// so cached pixels are close to, not equal to, read_dicom + resize_image: match the nearest image.
// Synthetic images differ from each other by far more than the two decoding paths do.
constexpr double kSameImageTolerance = 2.0;  // mean absolute grey-level difference

struct OracleImage {
  std::string id;
  Image8 image;  // read_dicom + resize_image to kScoreSize
  Mask truth;    // label CSV decoded at the source size, resize_mask to kScoreSize
};

Mask mirror(const Mask& m) {
  Mask out(m.rows, m.cols);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) out.at(r, c) = m.at(r, m.cols - 1 - c);
  return out;
}

ImagePrediction prediction_from_mask(const Mask& mask, float image_probability) {
  ImagePrediction p;
  p.probability_map = ProbMap(mask.rows, mask.cols);
  for (std::size_t i = 0; i < mask.px.size(); ++i) p.probability_map.p[i] = mask.px[i] ? 1.0f : 0.0f;
  p.mask = mask;
  p.image_probability = image_probability;
  p.positive = count_nonzero(mask) > 0;
  return p;
}

class EvaluationGlueTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("pneumo_infer_eval_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    SynthOptions opt;
    opt.count = kCount;
    opt.seed = 5;
    opt.size = kSourceSize;
    opt.positive_share = 0.5;
    opt.threads = 2;
    auto summary = generate_synthetic_dataset(root_, opt);
    ASSERT_TRUE(summary) << summary.error().message;
    positives_ = summary->positives;

    // The oracle: each DICOM decoded and resized on its own, its truth from the label CSV.
    LabelCsvOptions label_options;
    label_options.rows = kSourceSize;
    label_options.cols = kSourceSize;
    auto labels = read_label_csv(root_ / "train-rle.csv", label_options);
    ASSERT_TRUE(labels) << labels.error().message;
    auto files = list_files(root_ / "dicom", {".dcm"});
    ASSERT_TRUE(files);
    for (const auto& path : files.value()) {
      auto d = read_dicom(path);
      ASSERT_TRUE(d) << d.error().message;
      const ImageLabel* label = labels->find(d->meta.sop_instance_uid);
      ASSERT_NE(label, nullptr);
      auto mask = decode_label_mask(*label, label_options, "train-rle.csv");
      ASSERT_TRUE(mask) << mask.error().message;
      const Mask small = resize_mask(mask.value(), kScoreSize, kScoreSize);
      oracle_.push_back({d->meta.sop_instance_uid, resize_image(d->image, kScoreSize, kScoreSize), small});
      truth_by_id_[d->meta.sop_instance_uid] = small;
      source_truth_by_id_[d->meta.sop_instance_uid] = mask.value();
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static ImageSelection selection() {
    ImageSelection s;
    s.csv = root_ / "train-rle.csv";
    s.data_dirs = {root_ / "dicom"};
    s.cache_dir = root_ / "cache";  // hermetic: nothing under ~/.cache
    return s;
  }

  static SelectedImages load(const ImageSelection& s) {
    auto selected = load_selected_images(s, kScoreSize, /*threads=*/2, /*progress=*/false);
    if (!selected) ADD_FAILURE() << selected.error().message;
    return selected ? std::move(selected.value()) : SelectedImages{};
  }

  // The oracle image nearest to `img`, or nullptr when none is within kSameImageTolerance.
  static const OracleImage* recognise(const Image8& img) {
    const OracleImage* best = nullptr;
    double best_diff = kSameImageTolerance;
    for (const auto& o : oracle_) {
      const double d = mean_abs_diff(o.image, img);
      if (d < best_diff) {
        best_diff = d;
        best = &o;
      }
    }
    return best;
  }

  // A predictor that recognises each image by its pixels and answers with transform(truth).
  template <typename Transform>
  static PredictFunction oracle(Transform transform) {
    return [transform](const std::vector<Image8>& images) -> Result<std::vector<ImagePrediction>> {
      std::vector<ImagePrediction> out;
      for (const auto& img : images) {
        const OracleImage* o = recognise(img);
        if (o == nullptr) return fail(ErrorCode::kInternal, "oracle: unknown image");
        out.push_back(prediction_from_mask(transform(o->truth), count_nonzero(o->truth) > 0 ? 0.9f : 0.1f));
      }
      return out;
    };
  }

  static inline fs::path root_;
  static inline int positives_ = 0;
  static inline std::vector<OracleImage> oracle_;
  static inline std::map<std::string, Mask> truth_by_id_;
  static inline std::map<std::string, Mask> source_truth_by_id_;  // decoded at kSourceSize

  // Kaggle mean Dice of model-size masks once resized to the source size, from the metric formula.
  static double source_mean_dice(const SelectedImages& s, const std::vector<ImagePrediction>& preds) {
    double sum = 0;
    for (std::size_t i = 0; i < s.ids.size(); ++i) {
      const Mask& truth = source_truth_by_id_.at(s.ids[i]);
      const OverlapCounts c = overlap(truth, resize_mask(preds[i].mask, truth.rows, truth.cols));
      sum += (c.truth_area == 0 && c.predicted_area == 0) ? 1.0
                                                           : 2.0 * c.intersection / (c.truth_area + c.predicted_area);
    }
    return sum / static_cast<double>(s.ids.size());
  }
};

TEST_F(EvaluationGlueTest, SelectionMatchesTheIndependentDecoding) {
  SelectedImages s = load(selection());
  ASSERT_EQ(s.ids.size(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(s.size, kScoreSize);
  EXPECT_TRUE(s.skipped.empty());
  for (std::size_t i = 0; i < s.ids.size(); ++i) {
    ASSERT_TRUE(truth_by_id_.count(s.ids[i])) << s.ids[i];
    EXPECT_EQ(s.truths[i], truth_by_id_.at(s.ids[i])) << s.ids[i];  // same mask, same orientation
    EXPECT_EQ(s.truth_labels[i], count_nonzero(s.truths[i]) > 0);
    const OracleImage* o = recognise(s.images[i]);
    ASSERT_NE(o, nullptr) << "cached image of " << s.ids[i] << " is far from read_dicom + resize_image";
    EXPECT_EQ(o->id, s.ids[i]) << "cached image and id belong to different DICOMs";
    // Recognition is unambiguous: no other image comes anywhere near.
    const auto near = std::count_if(oracle_.begin(), oracle_.end(), [&](const OracleImage& other) {
      return mean_abs_diff(other.image, s.images[i]) < 4 * kSameImageTolerance;
    });
    std::vector<double> d;
    for (const auto& other : oracle_) d.push_back(mean_abs_diff(other.image, s.images[i]));
    std::sort(d.begin(), d.end());
    EXPECT_EQ(near, 1) << s.ids[i] << " nearest " << d[0] << " second " << d[1];
    EXPECT_EQ(o->truth, s.truths[i]) << "image and truth of " << s.ids[i] << " belong to different images";
  }
}

TEST_F(EvaluationGlueTest, FoldSelectionIsTrainingsFold) {
  IndexOptions index_options;
  index_options.progress = false;
  auto index = build_dataset_index(root_ / "train-rle.csv", root_ / "dicom", index_options);
  ASSERT_TRUE(index);
  auto folds = assign_folds(index.value(), 5, 42);
  ASSERT_TRUE(folds);
  std::set<std::string> all;
  for (int fold = 0; fold < 5; ++fold) {
    std::set<std::string> expected;
    for (const auto& f : folds.value())
      if (f.fold == fold) expected.insert(f.image_id);
    ImageSelection sel = selection();
    sel.fold = fold;
    SelectedImages s = load(sel);
    EXPECT_EQ(std::set<std::string>(s.ids.begin(), s.ids.end()), expected) << "fold " << fold;
    all.insert(s.ids.begin(), s.ids.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kCount));
  EXPECT_TRUE(fs::exists(root_ / "cache" / std::to_string(kScoreSize) / "manifest.json"));

  // From a folds.csv: a fold-2-only file selects exactly those images.
  std::vector<FoldEntry> only = folds.value();
  const fs::path folds_csv = root_ / "folds_test.csv";
  ASSERT_TRUE(write_folds_csv(folds_csv, only));
  ImageSelection sel = selection();
  sel.folds_csv = folds_csv;
  sel.fold = 2;
  std::set<std::string> expected;
  for (const auto& f : only)
    if (f.fold == 2) expected.insert(f.image_id);
  SelectedImages s = load(sel);
  EXPECT_EQ(std::set<std::string>(s.ids.begin(), s.ids.end()), expected);

  sel.fold = 7;
  auto bad = load_selected_images(sel, kScoreSize, 2, false);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  ImageSelection no_fold_seven = selection();
  no_fold_seven.fold = 5;
  EXPECT_EQ(load_selected_images(no_fold_seven, kScoreSize, 2, false).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(EvaluationGlueTest, PerfectPredictorScoresOneAndMirroredDoesNot) {
  SelectedImages s = load(selection());
  auto perfect = predict_all(oracle([](const Mask& m) { return m; }), s.images, /*batch=*/5, false);
  ASSERT_TRUE(perfect) << perfect.error().message;
  EvalReportOptions options;
  auto r = score_predictions(s, perfect.value(), options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->summary.images, static_cast<std::size_t>(kCount));
  EXPECT_EQ(r->summary.positive_images, static_cast<std::size_t>(positives_));
  // At the model size the cached truth is returned exactly; at the source size the resized mask
  // differs from the full-resolution truth by border pixels, as Kaggle would have scored it.
  EXPECT_DOUBLE_EQ(r->model_size_summary.mean_dice, 1.0);
  EXPECT_DOUBLE_EQ(r->model_size_summary.mean_dice_positive, 1.0);
  EXPECT_EQ(r->json["scored_at"], "source");
  const double at_source = source_mean_dice(s, perfect.value());
  EXPECT_NEAR(r->summary.mean_dice, at_source, 1e-12);
  EXPECT_NEAR(r->json["mean_dice"].get<double>(), at_source, 1e-12);
  EXPECT_DOUBLE_EQ(r->json["model_size"]["mean_dice"].get<double>(), 1.0);
  EXPECT_GT(at_source, 0.9);
  EXPECT_LT(r->summary.mean_dice_positive, 1.0);  // border pixels do differ at 4x
  EXPECT_EQ(r->summary.mask_presence.fp + r->summary.mask_presence.fn, 0);
  ASSERT_TRUE(r->summary.roc_auc.has_value());
  EXPECT_DOUBLE_EQ(*r->summary.roc_auc, 1.0);
  EXPECT_DOUBLE_EQ(r->empty_baseline_dice, static_cast<double>(kCount - positives_) / kCount);
  ASSERT_EQ(r->threshold_sweep.size(), 19u);
  for (const auto& p : r->threshold_sweep) EXPECT_DOUBLE_EQ(p.mean_dice, 1.0) << p.pixel_threshold;
  EXPECT_EQ(r->json["n_images"], kCount);
  EXPECT_EQ(r->json["confusion"]["tp"], positives_);

  // Mirrored predictions: synthetic pneumothoraces sit on one side, so Dice on positives drops;
  // computed independently here with the metric formula.
  auto mirrored = predict_all(oracle(mirror), s.images, 4, false);
  ASSERT_TRUE(mirrored);
  auto m = score_predictions(s, mirrored.value(), options);
  ASSERT_TRUE(m);
  double sum = 0;
  for (std::size_t i = 0; i < s.ids.size(); ++i) {
    const OverlapCounts c = overlap(s.truths[i], mirror(s.truths[i]));
    sum += (c.truth_area == 0 && c.predicted_area == 0) ? 1.0 : 2.0 * c.intersection / (c.truth_area + c.predicted_area);
  }
  EXPECT_NEAR(m->model_size_summary.mean_dice, sum / kCount, 1e-12);
  EXPECT_NEAR(m->summary.mean_dice, source_mean_dice(s, mirrored.value()), 1e-12);
  EXPECT_LT(m->summary.mean_dice_positive, 0.9);

  // Galleries: "lowest" is the positives with the smallest Dice, "best" the found lesions with
  // the largest, each ordered and nothing better (worse) left out.
  const auto& records = m->summary.records;
  std::vector<double> found, positive;
  for (const auto& rec : records) {
    if (rec.truth_mask_empty()) continue;
    positive.push_back(rec.dice);
    if (rec.dice > 0) found.push_back(rec.dice);
  }
  std::sort(found.rbegin(), found.rend());
  std::sort(positive.begin(), positive.end());
  std::vector<double> best, lowest;
  for (std::size_t i : m->best_dice_positives) best.push_back(records[i].dice);
  for (std::size_t i : m->lowest_dice_positives) lowest.push_back(records[i].dice);
  found.resize(std::min(found.size(), options.gallery_size));
  positive.resize(std::min(positive.size(), options.gallery_size));
  EXPECT_EQ(best, found);
  EXPECT_EQ(lowest, positive);
  EXPECT_FALSE(best.empty());
}

TEST_F(EvaluationGlueTest, EmptyPredictorWritesOutputsAndHardExamples) {
  SelectedImages s = load(selection());
  auto empty = predict_all(oracle([](const Mask& m) { return Mask(m.rows, m.cols); }), s.images, 16, false);
  ASSERT_TRUE(empty);
  for (auto& p : empty.value()) p.image_probability = 0.2f;  // no ranking information
  EvalReportOptions options;
  options.out_dir = root_ / "eval_out";
  options.gallery_size = 3;
  auto r = score_predictions(s, empty.value(), options);
  ASSERT_TRUE(r);
  // Stale gallery files from an earlier run are removed.
  ASSERT_TRUE(write_file_atomic(options.out_dir / "gallery" / "fp" / "stale.png", "x"));
  auto st = write_evaluation_outputs(s, empty.value(), r.value(), options);
  ASSERT_TRUE(st) << st.error().message;

  auto text = read_file(options.out_dir / "eval.json");
  ASSERT_TRUE(text);
  const json j = json::parse(text.value());
  const double negatives = kCount - positives_;
  EXPECT_DOUBLE_EQ(j["mean_dice"].get<double>(), negatives / kCount);
  EXPECT_DOUBLE_EQ(j["empty_baseline_dice"].get<double>(), negatives / kCount);
  EXPECT_EQ(j["confusion"]["fn"], positives_);
  EXPECT_EQ(j["confusion"]["tn"], kCount - positives_);
  EXPECT_EQ(j["confusion"]["tp"], 0);
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), 0.5);
  for (const char* key : {"iou", "accuracy", "precision", "recall", "specificity", "f1", "mean_dice_positive",
                          "n_positive", "postprocess", "models", "threshold_sweep", "image_level"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }

  auto csv = read_file(options.out_dir / "hard_examples.csv");
  ASSERT_TRUE(csv);
  auto lines = split(trim(csv.value()), '\n');
  ASSERT_EQ(lines.size(), static_cast<std::size_t>(positives_) + 1);
  EXPECT_EQ(lines[0], "ImageId,reason,dice");
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto fields = split(lines[i], ',');
    ASSERT_EQ(fields.size(), 3u);
    EXPECT_EQ(fields[1], "false_negative");
    ASSERT_TRUE(truth_by_id_.count(std::string(fields[0])));
    EXPECT_GT(count_nonzero(truth_by_id_.at(std::string(fields[0]))), 0);
  }
  auto count_pngs = [](const fs::path& dir) {
    return std::count_if(fs::directory_iterator(dir), fs::directory_iterator{},
                         [](const auto& e) { return e.path().extension() == ".png"; });
  };
  EXPECT_EQ(count_pngs(options.out_dir / "gallery" / "fn"), std::min(3, positives_));
  EXPECT_EQ(count_pngs(options.out_dir / "gallery" / "fp"), 0);
  EXPECT_EQ(count_pngs(options.out_dir / "gallery" / "lowest"), std::min(3, positives_));
  EXPECT_EQ(count_pngs(options.out_dir / "gallery" / "best"), 0);  // every lesion was missed
  auto overlay = read_png_gray(*fs::directory_iterator(options.out_dir / "gallery" / "fn"));
  ASSERT_TRUE(overlay);
  EXPECT_GE(overlay->rows, 256);  // enlarged from 64 px
  EXPECT_TRUE(fs::exists(options.out_dir / "report.md"));
  if (find_gnuplot()) {
    for (const char* png : {"roc.png", "pr.png", "threshold_sweep.png", "dice_histogram.png", "confusion.png"}) {
      EXPECT_TRUE(fs::exists(options.out_dir / png)) << png;
    }
  }
}

TEST(DefaultCacheDir, FollowsXdgAndNeverTheDataFolder) {
  const char* old = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old ? old : "";
  ::setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  const fs::path a = default_cache_dir("/data/siim/dicom");
  EXPECT_EQ(a.parent_path(), fs::path("/tmp/xdg-test/pneumo"));
  EXPECT_EQ(a.filename().string().size(), 16u);
  EXPECT_EQ(default_cache_dir("/data/siim/dicom"), a);  // deterministic
  EXPECT_NE(default_cache_dir("/data/other/dicom"), a);
  if (old) ::setenv("XDG_CACHE_HOME", saved.c_str(), 1); else ::unsetenv("XDG_CACHE_HOME");
}

TEST_F(EvaluationGlueTest, MismatchedPredictionsAreErrors) {
  SelectedImages s = load(selection());
  auto perfect = predict_all(oracle([](const Mask& m) { return m; }), s.images, 8, false);
  ASSERT_TRUE(perfect);
  std::vector<ImagePrediction> preds = perfect.value();
  preds[3] = prediction_from_mask(resize_mask(preds[3].mask, 128, 128), 0.5f);  // source size, not score size
  auto r = score_predictions(s, preds, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find(s.ids[3]), std::string::npos);
  preds.pop_back();
  EXPECT_FALSE(score_predictions(s, preds, {}));
  auto short_answer = predict_all([](const std::vector<Image8>&) -> Result<std::vector<ImagePrediction>> {
    return std::vector<ImagePrediction>{};
  }, s.images, 4, false);
  ASSERT_FALSE(short_answer);
  EXPECT_EQ(short_answer.error().code, ErrorCode::kInternal);
}

TEST_F(EvaluationGlueTest, TuningFindsTheThresholdThatRecoversTheTruth) {
  SelectedImages s = load(selection());
  // Maps: 0.35 on truth pixels, 0 elsewhere. p > 0.5 finds nothing; any threshold < 0.35 is perfect.
  std::vector<EvalSample> samples(s.ids.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    samples[i].truth = s.truths[i];
    samples[i].probs = ProbMap(kScoreSize, kScoreSize);
    for (std::size_t k = 0; k < s.truths[i].px.size(); ++k) samples[i].probs.p[k] = s.truths[i].px[k] ? 0.35f : 0.0f;
  }
  PostprocessParams current;  // pixel_threshold 0.5
  auto t = tune_postprocess(samples, current, 2);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_DOUBLE_EQ(t->dice_before, static_cast<double>(kCount - positives_) / kCount);
  EXPECT_DOUBLE_EQ(t->dice_after, 1.0);
  EXPECT_TRUE(t->improved);
  EXPECT_FALSE(t->best.triplet);  // the triplet grid's top thresholds start at 0.5
  EXPECT_LT(t->best.pixel_threshold, 0.35f);
  EXPECT_EQ(t->images, static_cast<std::size_t>(kCount));
  EXPECT_FALSE(t->top.empty());
  EXPECT_DOUBLE_EQ(t->top.front().mean_dice, 1.0);

  PostprocessParams good;
  good.pixel_threshold = 0.3f;
  auto kept = tune_postprocess(samples, good, 2);
  ASSERT_TRUE(kept);
  EXPECT_FALSE(kept->improved);
  EXPECT_EQ(kept->best, good);
  EXPECT_DOUBLE_EQ(kept->dice_after, 1.0);

  // At the source resolution: the chosen parameters' figure is the exact source-size Dice.
  std::vector<Mask> source_truths;
  for (const auto& id : s.ids) source_truths.push_back(source_truth_by_id_.at(id));
  auto at_source = tune_postprocess(samples, current, 2, &source_truths);
  ASSERT_TRUE(at_source) << at_source.error().message;
  EXPECT_TRUE(at_source->at_source);
  EXPECT_TRUE(at_source->improved);
  EXPECT_LT(at_source->best.pixel_threshold, 0.35f);
  std::vector<ImagePrediction> chosen(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    chosen[i].mask = apply_postprocess(samples[i].probs, std::nullopt, at_source->best);
  }
  EXPECT_NEAR(at_source->dice_after, source_mean_dice(s, chosen), 1e-12);
  EXPECT_DOUBLE_EQ(at_source->model_size_dice_after, 1.0);
  EXPECT_DOUBLE_EQ(at_source->dice_before, static_cast<double>(kCount - positives_) / kCount);
  source_truths.pop_back();
  EXPECT_FALSE(tune_postprocess(samples, current, 2, &source_truths));

  // Area grids scale with the map size.
  EXPECT_EQ(plain_tune_grid(256).min_component_areas, (std::vector<int>{0, 32, 64, 128, 256, 512}));
  EXPECT_EQ(triplet_tune_grid(512).triplet_min_areas, (std::vector<int>{0, 200, 400, 800, 1600, 3200}));
}

}  // namespace
