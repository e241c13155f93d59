#include <gtest/gtest.h>

#include <random>

#include "pneumo/core/parallel.hpp"
#include "pneumo/eval/evaluator.hpp"

using namespace pneumo;

namespace {

Mask rect(int rows, int cols, int r0, int c0, int h, int w) {
  Mask m(rows, cols);
  for (int r = r0; r < r0 + h; ++r)
    for (int c = c0; c < c0 + w; ++c) m.at(r, c) = 1;
  return m;
}

}  // namespace

TEST(EvalEvaluator, HandComputedSummary) {
  SegmentationEvaluator ev(/*classification_threshold=*/0.5f);
  const Mask empty(8, 8);
  // id  truth            prediction         prob  label  dice
  // d   empty            empty              0.1   0      1
  // c   empty            2x2 (FP)           0.7   0      0
  // b   4x4 at 0,0       4x2 at 0,0         0.6   1      2*8/(16+8) = 2/3
  // a   2x2 at 4,4       empty (FN)         0.4   1      0
  ASSERT_TRUE(ev.add("d", empty, empty, 0.1f, false));
  ASSERT_TRUE(ev.add("c", empty, rect(8, 8, 0, 0, 2, 2), 0.7f, false));
  ASSERT_TRUE(ev.add("b", rect(8, 8, 0, 0, 4, 4), rect(8, 8, 0, 0, 4, 2), 0.6f, true));
  ASSERT_TRUE(ev.add("a", rect(8, 8, 4, 4, 2, 2), empty, 0.4f, true));
  EXPECT_EQ(ev.size(), 4u);

  const EvaluationSummary s = ev.summary(/*gallery_size=*/2);
  EXPECT_EQ(s.images, 4u);
  EXPECT_EQ(s.positive_images, 2u);
  EXPECT_EQ(s.negative_images, 2u);
  EXPECT_DOUBLE_EQ(s.mean_dice, (1.0 + 0.0 + 2.0 / 3 + 0.0) / 4);
  EXPECT_DOUBLE_EQ(s.mean_iou, (1.0 + 0.0 + 0.5 + 0.0) / 4);
  EXPECT_DOUBLE_EQ(s.mean_dice_positive, (2.0 / 3) / 2);
  EXPECT_DOUBLE_EQ(s.mean_dice_negative, 0.5);
  EXPECT_EQ(s.dice_histogram, (std::vector<long long>{2, 0, 0, 0, 0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(s.mask_presence, (ConfusionMatrix{.tp = 1, .fp = 1, .tn = 1, .fn = 1}));

  // Scores 0.1(-) 0.7(-) 0.6(+) 0.4(+): positive beats negative in 2 of 4 pairs.
  ASSERT_TRUE(s.roc_auc.has_value());
  EXPECT_DOUBLE_EQ(*s.roc_auc, 0.5);
  EXPECT_EQ(s.confusion, (ConfusionMatrix{.tp = 1, .fp = 1, .tn = 1, .fn = 1}));
  EXPECT_DOUBLE_EQ(s.classification.accuracy, 0.5);
  EXPECT_EQ(s.roc.size(), 5u);
  EXPECT_EQ(s.pr.size(), 5u);

  ASSERT_EQ(s.records.size(), 4u);
  EXPECT_EQ(s.records[0].image_id, "a");  // sorted by id
  EXPECT_EQ(s.records[3].image_id, "d");
  // lowest Dice: a and c both 0, id order breaks the tie; limited to gallery_size 2
  ASSERT_EQ(s.lowest_dice.size(), 2u);
  EXPECT_EQ(s.records[s.lowest_dice[0]].image_id, "a");
  EXPECT_EQ(s.records[s.lowest_dice[1]].image_id, "c");
  ASSERT_EQ(s.false_positives.size(), 1u);
  EXPECT_EQ(s.records[s.false_positives[0]].image_id, "c");
  ASSERT_EQ(s.false_negatives.size(), 1u);
  EXPECT_EQ(s.records[s.false_negatives[0]].image_id, "a");
}

TEST(EvalEvaluator, OneClassGivesNoAucAndEmptyGivesZeros) {
  SegmentationEvaluator none;
  const EvaluationSummary e = none.summary();
  EXPECT_EQ(e.images, 0u);
  EXPECT_EQ(e.mean_dice, 0.0);
  EXPECT_FALSE(e.roc_auc.has_value());

  SegmentationEvaluator ev;
  ASSERT_TRUE(ev.add("x", Mask(4, 4), Mask(4, 4), 0.2f, false));
  ASSERT_TRUE(ev.add("y", Mask(4, 4), Mask(4, 4), 0.3f, false));
  const EvaluationSummary s = ev.summary();
  EXPECT_FALSE(s.roc_auc.has_value());
  EXPECT_DOUBLE_EQ(s.mean_dice, 1.0);
  EXPECT_DOUBLE_EQ(s.mean_dice_positive, 0.0);  // no positive images: 0 by convention
}

TEST(EvalEvaluator, RejectsMismatchDuplicateAndNaN) {
  SegmentationEvaluator ev;
  auto st = ev.add("img7", Mask(4, 4), Mask(4, 5), 0.5f, false);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message.find("img7"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("4x5"), std::string::npos) << st.error().message;
  ASSERT_TRUE(ev.add("img7", Mask(4, 4), Mask(4, 4), 0.5f, false));
  EXPECT_FALSE(ev.add("img7", Mask(4, 4), Mask(4, 4), 0.5f, false));
  EXPECT_FALSE(ev.add("img8", Mask(4, 4), Mask(4, 4), NAN, false));
  EXPECT_EQ(ev.size(), 1u);
}

TEST(EvalEvaluator, ConcurrentAddsGiveTheSameSummaryAsSequential) {
  const int n = 300;
  std::mt19937 rng(12345);  // seed fixed; printed below on failure
  std::uniform_int_distribution<int> pos(0, 12), size(0, 4);
  std::uniform_real_distribution<float> prob(0, 1);
  std::vector<Mask> truth(n), pred(n);
  std::vector<float> p(n);
  for (int i = 0; i < n; ++i) {
    truth[i] = rect(16, 16, pos(rng), pos(rng), size(rng), size(rng));
    pred[i] = rect(16, 16, pos(rng), pos(rng), size(rng), size(rng));
    p[i] = prob(rng);
  }
  SegmentationEvaluator seq, par;
  for (int i = 0; i < n; ++i) ASSERT_TRUE(seq.add("id" + std::to_string(i), truth[i], pred[i], p[i], i % 3 == 0));
  parallel_for(n, /*threads=*/4, [&](std::size_t i) {
    ASSERT_TRUE(par.add("id" + std::to_string(i), truth[i], pred[i], p[i], i % 3 == 0));
  });
  const auto a = seq.summary(), b = par.summary();
  EXPECT_EQ(a.mean_dice, b.mean_dice) << "seed 12345";
  EXPECT_EQ(a.roc_auc, b.roc_auc);
  EXPECT_EQ(a.confusion, b.confusion);
  EXPECT_EQ(a.lowest_dice, b.lowest_dice);
  ASSERT_EQ(a.records.size(), b.records.size());
  for (std::size_t i = 0; i < a.records.size(); ++i) EXPECT_EQ(a.records[i].image_id, b.records[i].image_id);
  // and the mean agrees with an independent computation
  EXPECT_NEAR(a.mean_dice, mean_dice(truth, pred), 1e-12);
}
