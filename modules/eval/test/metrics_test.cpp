#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "pneumo/eval/metrics.hpp"

using namespace pneumo;

namespace {

Mask mask_from(int rows, int cols, std::initializer_list<std::pair<int, int>> on, std::uint8_t value = 1) {
  Mask m(rows, cols);
  for (auto [r, c] : on) m.at(r, c) = value;
  return m;
}

// Independent oracle: AUC as the share of (positive, negative) pairs ranked correctly, ties 1/2.
double pairwise_auc(const std::vector<float>& s, const std::vector<int>& y) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    for (std::size_t j = 0; j < s.size(); ++j)
      if (y[i] && !y[j]) {
        pairs += 1;
        wins += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
  return wins / pairs;
}

}  // namespace

TEST(EvalDice, HandComputedOverlap) {
  Mask a = mask_from(3, 3, {{0, 0}, {0, 1}});
  Mask b = mask_from(3, 3, {{0, 1}, {1, 1}, {2, 2}});
  OverlapCounts c = overlap(a, b);
  EXPECT_EQ(c.truth_area, 2);
  EXPECT_EQ(c.predicted_area, 3);
  EXPECT_EQ(c.intersection, 1);
  EXPECT_DOUBLE_EQ(dice(a, b), 2.0 * 1 / 5);
  EXPECT_DOUBLE_EQ(iou(a, b), 1.0 / 4);
  EXPECT_DOUBLE_EQ(dice(a, a), 1.0);
}

TEST(EvalDice, KaggleEmptyRules) {
  Mask empty(4, 4), some = mask_from(4, 4, {{1, 1}});
  EXPECT_DOUBLE_EQ(dice(empty, empty), 1.0);
  EXPECT_DOUBLE_EQ(iou(empty, empty), 1.0);
  EXPECT_DOUBLE_EQ(dice(empty, some), 0.0);
  EXPECT_DOUBLE_EQ(dice(some, empty), 0.0);
  EXPECT_DOUBLE_EQ(iou(some, empty), 0.0);
}

TEST(EvalDice, NonZeroIsPositiveSo255MasksWork) {
  Mask a = mask_from(2, 2, {{0, 0}, {1, 1}}, 255);
  Mask b = mask_from(2, 2, {{0, 0}}, 1);
  EXPECT_DOUBLE_EQ(dice(a, b), 2.0 / 3);
}

TEST(EvalDice, SizeMismatchIsACallerBug) {
  EXPECT_THROW(dice(Mask(2, 2), Mask(2, 3)), std::invalid_argument);
  EXPECT_THROW(dice_per_image({Mask(2, 2)}, {}), std::invalid_argument);
}

TEST(EvalDice, MeansOverSets) {
  Mask empty(3, 3), a = mask_from(3, 3, {{0, 0}, {0, 1}}), b = mask_from(3, 3, {{0, 1}, {1, 1}, {2, 2}});
  // all empty, all correct
  EXPECT_DOUBLE_EQ(mean_dice({empty, empty, empty}, {empty, empty, empty}), 1.0);
  EXPECT_DOUBLE_EQ(mean_iou({empty, empty}, {empty, empty}), 1.0);
  // all positive, predicted perfectly / predicted empty
  EXPECT_DOUBLE_EQ(mean_dice({a, b}, {a, b}), 1.0);
  EXPECT_DOUBLE_EQ(mean_dice({a, b}, {empty, empty}), 0.0);
  // mixture: 1 (empty/empty) + 0 (FP) + 0.4 (a vs b) + 1 (a vs a) over 4
  const std::vector<Mask> truth{empty, empty, a, a}, pred{empty, b, b, a};
  EXPECT_DOUBLE_EQ(mean_dice(truth, pred), (1.0 + 0.0 + 0.4 + 1.0) / 4);
  EXPECT_DOUBLE_EQ(mean_iou(truth, pred), (1.0 + 0.0 + 0.25 + 1.0) / 4);
  const auto per = dice_per_image(truth, pred);
  ASSERT_EQ(per.size(), 4u);
  EXPECT_DOUBLE_EQ(per[2], 0.4);
  EXPECT_DOUBLE_EQ(mean_dice({}, {}), 0.0);  // empty list: 0, not NaN
}

TEST(EvalHistogram, BinsOverUnitInterval) {
  const auto h = unit_histogram({0.0, 0.05, 0.25, 0.5, 0.95, 1.0, -0.2, 1.5}, 10);
  const std::vector<long long> expected{3, 0, 1, 0, 0, 1, 0, 0, 0, 3};
  EXPECT_EQ(h, expected);
  EXPECT_EQ(unit_histogram({}, 4), std::vector<long long>(4, 0));
  EXPECT_THROW(unit_histogram({0.5}, 0), std::invalid_argument);
}

TEST(EvalConfusion, HandComputedAtThreshold) {
  const std::vector<float> s{0.9f, 0.6f, 0.5f, 0.4f, 0.2f, 0.5f};
  const std::vector<int> y{1, 0, 1, 1, 0, 0};
  const ConfusionMatrix cm = confusion_at(s, y, 0.5f);  // 0.5 counts as positive
  EXPECT_EQ(cm, (ConfusionMatrix{.tp = 2, .fp = 2, .tn = 1, .fn = 1}));
  const BinaryMetrics m = binary_metrics(cm);
  EXPECT_DOUBLE_EQ(m.accuracy, 3.0 / 6);
  EXPECT_DOUBLE_EQ(m.precision, 2.0 / 4);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.specificity, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.f1, 2 * (0.5 * 2.0 / 3) / (0.5 + 2.0 / 3));  // harmonic mean of P and R
}

TEST(EvalConfusion, ZeroDenominatorsGiveZeroNotNaN) {
  const BinaryMetrics none = binary_metrics(ConfusionMatrix{});
  EXPECT_EQ(none.accuracy, 0.0);
  EXPECT_EQ(none.precision, 0.0);
  EXPECT_EQ(none.recall, 0.0);
  EXPECT_EQ(none.specificity, 0.0);
  EXPECT_EQ(none.f1, 0.0);
  // all negative, all called negative
  const BinaryMetrics neg = binary_metrics(confusion_at({0.1f, 0.2f}, {0, 0}, 0.5f));
  EXPECT_EQ(neg.accuracy, 1.0);
  EXPECT_EQ(neg.precision, 0.0);
  EXPECT_EQ(neg.recall, 0.0);
  EXPECT_EQ(neg.specificity, 1.0);
  EXPECT_EQ(neg.f1, 0.0);
  EXPECT_THROW(confusion_at({NAN}, {1}, 0.5f), std::invalid_argument);
  EXPECT_THROW(confusion_at({0.1f}, {}, 0.5f), std::invalid_argument);
}

TEST(EvalAuc, HandExamples) {
  // scikit-learn's documented example: 0.75
  EXPECT_DOUBLE_EQ(roc_auc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}).value(), 0.75);
  // tie between a positive and a negative at 0.5 counts 1/2: (1 + 1 + 1 + 0.5) / 4
  EXPECT_DOUBLE_EQ(roc_auc({0.5f, 0.5f, 0.2f, 0.8f}, {1, 0, 0, 1}).value(), 0.875);
  EXPECT_DOUBLE_EQ(roc_auc({0.3f, 0.3f, 0.3f}, {1, 0, 1}).value(), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({0.9f, 0.1f}, {0, 1}).value(), 0.0);
}

TEST(EvalAuc, UndefinedWithOneClass) {
  EXPECT_FALSE(roc_auc({0.1f, 0.9f}, {1, 1}).has_value());
  EXPECT_FALSE(roc_auc({0.1f, 0.9f}, {0, 0}).has_value());
  EXPECT_FALSE(roc_auc({}, {}).has_value());
}

TEST(EvalAuc, MatchesPairwiseOracleOnRandomData) {
  for (unsigned seed = 1; seed <= 50; ++seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> n_dist(2, 120), level(0, 20), coin(0, 1);
    const int n = n_dist(rng);
    std::vector<float> s(n);
    std::vector<int> y(n);
    for (int i = 0; i < n; ++i) {
      y[i] = coin(rng);
      s[i] = static_cast<float>(level(rng) + 3 * y[i]) / 23.0f;  // coarse levels: many ties
    }
    y[0] = 1, y[1] = 0;  // both classes present
    ASSERT_NEAR(roc_auc(s, y).value(), pairwise_auc(s, y), 1e-12) << "seed " << seed;

    // The trapezoidal area under the ROC curve is the same number.
    const auto roc = roc_curve(s, y);
    double area = 0;
    for (std::size_t k = 1; k < roc.size(); ++k)
      area += (roc[k].fpr - roc[k - 1].fpr) * (roc[k].tpr + roc[k - 1].tpr) / 2;
    ASSERT_NEAR(area, pairwise_auc(s, y), 1e-12) << "seed " << seed;
  }
}

TEST(EvalCurves, RocAndPrHandExample) {
  const std::vector<float> s{0.1f, 0.4f, 0.35f, 0.8f};
  const std::vector<int> y{0, 0, 1, 1};
  const auto roc = roc_curve(s, y);
  ASSERT_EQ(roc.size(), 5u);
  EXPECT_GT(roc[0].threshold, 0.8f);
  EXPECT_TRUE(std::isfinite(roc[0].threshold));
  const double fpr[] = {0, 0, 0.5, 0.5, 1}, tpr[] = {0, 0.5, 0.5, 1, 1};
  const float thr[] = {0.8f, 0.4f, 0.35f, 0.1f};
  for (int k = 0; k < 5; ++k) {
    EXPECT_DOUBLE_EQ(roc[k].fpr, fpr[k]) << k;
    EXPECT_DOUBLE_EQ(roc[k].tpr, tpr[k]) << k;
    if (k > 0) {
      EXPECT_EQ(roc[k].threshold, thr[k - 1]);
    }
  }
  const auto pr = pr_curve(s, y);
  ASSERT_EQ(pr.size(), 5u);
  const double rec[] = {0, 0.5, 0.5, 1, 1}, prec[] = {1, 1, 0.5, 2.0 / 3, 0.5};
  for (int k = 0; k < 5; ++k) {
    EXPECT_DOUBLE_EQ(pr[k].recall, rec[k]) << k;
    EXPECT_DOUBLE_EQ(pr[k].precision, prec[k]) << k;
  }
  // scikit-learn average_precision_score on this example: 0.8333...
  EXPECT_NEAR(average_precision(s, y), 0.5 * 1 + 0.5 * 2.0 / 3, 1e-12);
}

TEST(EvalCurves, TiedScoresMakeOnePointAndOneClassStaysFinite) {
  const auto roc = roc_curve({0.5f, 0.5f, 0.5f}, {1, 0, 1});
  ASSERT_EQ(roc.size(), 2u);
  EXPECT_DOUBLE_EQ(roc[1].fpr, 1.0);
  EXPECT_DOUBLE_EQ(roc[1].tpr, 1.0);
  for (const auto& p : roc_curve({0.2f, 0.7f}, {0, 0})) {  // no positives: tpr 0 by convention
    EXPECT_EQ(p.tpr, 0.0);
    EXPECT_FALSE(std::isnan(p.fpr));
  }
  EXPECT_EQ(average_precision({0.2f, 0.7f}, {0, 0}), 0.0);
  EXPECT_EQ(pr_curve({}, {}).size(), 1u);
}
