#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "pneumo/eval/postprocess.hpp"

using namespace pneumo;

namespace {

// Builds a mask from rows of '#' (1) and '.' (0).
Mask draw(const std::vector<std::string>& rows) {
  Mask m(static_cast<int>(rows.size()), static_cast<int>(rows[0].size()));
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) m.at(r, c) = rows[r][c] == '#';
  return m;
}

ProbMap map_from(int rows, int cols, std::vector<float> values) {
  ProbMap m(rows, cols);
  m.p = std::move(values);
  return m;
}

}  // namespace

TEST(EvalProbMapOps, FlipHorizontalMirrorsEachRow) {
  const ProbMap in = map_from(2, 3, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f});
  const ProbMap out = flip_horizontal(in);
  EXPECT_EQ(out.p, (std::vector<float>{0.3f, 0.2f, 0.1f, 0.6f, 0.5f, 0.4f}));
  EXPECT_EQ(flip_horizontal(out), in);
}

TEST(EvalProbMapOps, AverageIsPixelwiseMean) {
  const ProbMap a = map_from(1, 3, {0.0f, 0.5f, 1.0f});
  const ProbMap b = map_from(1, 3, {1.0f, 0.5f, 0.0f});
  const ProbMap c = map_from(1, 3, {0.5f, 0.2f, 0.5f});
  const ProbMap m = average({a, b, c});
  EXPECT_FLOAT_EQ(m.at(0, 0), 0.5f);
  EXPECT_FLOAT_EQ(m.at(0, 1), 0.4f);
  EXPECT_FLOAT_EQ(m.at(0, 2), 0.5f);
  EXPECT_EQ(average({a}), a);
  EXPECT_THROW(average({}), std::invalid_argument);
  EXPECT_THROW(average({a, ProbMap(3, 1)}), std::invalid_argument);
}

TEST(EvalThreshold, IsStrictAndIgnoresNaN) {
  const Mask m = threshold(map_from(1, 4, {0.49f, 0.5f, 0.51f, NAN}), 0.5f);
  EXPECT_EQ(m.px, (std::vector<std::uint8_t>{0, 0, 1, 0}));
}

TEST(EvalComponents, EightConnectivityJoinsDiagonals) {
  Mask m = draw({
      "#.....",  // (0,0)-(1,1) touch only diagonally: one component of 2
      ".#....",
      "......",
      "...##.",  // a 2x2 block: 4
      "...##.",
      "#.....",  // a lone pixel: 1
  });
  Mask keep2 = m;
  EXPECT_EQ(remove_small_components(keep2, /*min_area=*/2), 1);  // only the lone pixel goes
  EXPECT_EQ(keep2, draw({"#.....", ".#....", "......", "...##.", "...##.", "......"}));

  Mask keep3 = m;
  EXPECT_EQ(remove_small_components(keep3, /*min_area=*/3), 2);  // the diagonal pair goes too
  EXPECT_EQ(keep3, draw({"......", "......", "......", "...##.", "...##.", "......"}));

  Mask keep5 = m;
  EXPECT_EQ(remove_small_components(keep5, /*min_area=*/5), 3);
  EXPECT_EQ(count_nonzero(keep5), 0);

  Mask untouched = m;
  EXPECT_EQ(remove_small_components(untouched, /*min_area=*/1), 0);
  EXPECT_EQ(untouched, m);
  Mask nothing;
  EXPECT_EQ(remove_small_components(nothing, 10), 0);
}

TEST(EvalTriplet, GateNeedsMinAreaAboveTopThenMasksAboveBottom) {
  // 3 pixels at 0.9, 2 at 0.5, 3 at 0.1
  const ProbMap p = map_from(2, 4, {0.9f, 0.9f, 0.9f, 0.5f, 0.5f, 0.1f, 0.1f, 0.1f});
  const Mask expected = draw({"####", "#..."});
  EXPECT_EQ(triplet_mask(p, /*top=*/0.8f, /*bottom=*/0.3f, /*min_area=*/3), expected);  // exactly 3 >= 3
  EXPECT_EQ(count_nonzero(triplet_mask(p, 0.8f, 0.3f, 4)), 0);                         // 3 < 4: empty
  EXPECT_EQ(count_nonzero(triplet_mask(p, 0.4f, 0.3f, 4)), 5);                         // 5 above 0.4
  EXPECT_EQ(count_nonzero(triplet_mask(p, 0.8f, 0.05f, 0)), 8);
}

TEST(EvalApplyPostprocess, ClassifierGateTripletAndComponents) {
  // 4x4: a 2x2 blob at 0.95 with a 0.6 rim pixel, plus an isolated 0.6 pixel
  ProbMap p(4, 4, 0.0f);
  p.at(0, 0) = p.at(0, 1) = p.at(1, 0) = p.at(1, 1) = 0.95f;
  p.at(2, 2) = 0.6f;  // diagonal to (1,1): same 8-component
  p.at(3, 0) = 0.6f;  // alone
  PostprocessParams pp;
  EXPECT_EQ(count_nonzero(apply_postprocess(p, std::nullopt, pp)), 6);  // plain p > 0.5
  pp.min_component_area = 2;
  EXPECT_EQ(apply_postprocess(p, std::nullopt, pp), draw({"##..", "##..", "..#.", "...."}));

  pp.classifier_threshold = 0.5f;
  EXPECT_EQ(count_nonzero(apply_postprocess(p, 0.49f, pp)), 0);  // gated out
  EXPECT_EQ(count_nonzero(apply_postprocess(p, 0.5f, pp)), 5);   // prob == threshold passes

  pp.triplet = true;
  pp.top_threshold = 0.9f;
  pp.bottom_threshold = 0.5f;
  pp.triplet_min_area = 4;
  pp.min_component_area = 0;
  EXPECT_EQ(count_nonzero(apply_postprocess(p, std::nullopt, pp)), 6);
  pp.triplet_min_area = 5;
  EXPECT_EQ(count_nonzero(apply_postprocess(p, std::nullopt, pp)), 0);
  pp.triplet_min_area = 4;
  pp.min_component_area = 2;
  EXPECT_EQ(count_nonzero(apply_postprocess(p, 0.9f, pp)), 5);
}

TEST(EvalApplyPostprocess, OpenGateNeverLeavesTheMaskEmpty) {
  PostprocessParams pp;  // pixel threshold 0.5, gate at 0.5
  // Nothing above 0.5: the open gate falls back to the peak region (p >= half the maximum).
  ProbMap faint(4, 4, 0.0f);
  faint.at(0, 0) = 0.4f;
  faint.at(3, 3) = faint.at(3, 2) = 0.3f;
  faint.at(1, 3) = 0.1f;  // below half the peak
  EXPECT_EQ(count_nonzero(apply_postprocess(faint, std::nullopt, pp)), 0);  // no gate: empty is allowed
  EXPECT_EQ(count_nonzero(apply_postprocess(faint, 0.4f, pp)), 0);          // closed gate: empty
  EXPECT_EQ(apply_postprocess(faint, 0.9f, pp), draw({"#...", "....", "....", "..##"}));

  // The area filter removed everything: the largest component above the pixel threshold stays.
  ProbMap blobs(4, 4, 0.0f);
  blobs.at(0, 0) = blobs.at(0, 1) = 0.9f;  // 2 px
  blobs.at(3, 3) = 0.95f;                  // 1 px, higher but smaller
  pp.min_component_area = 3;
  EXPECT_EQ(count_nonzero(apply_postprocess(blobs, std::nullopt, pp)), 0);
  EXPECT_EQ(apply_postprocess(blobs, 0.6f, pp), draw({"##..", "....", "....", "...."}));
  // Triplet: the rule said "empty" but the gate is open: largest component above bottom.
  pp.triplet = true;
  pp.top_threshold = 0.99f;
  pp.bottom_threshold = 0.5f;
  pp.triplet_min_area = 1;
  pp.min_component_area = 0;
  EXPECT_EQ(apply_postprocess(blobs, 0.6f, pp), draw({"##..", "....", "....", "...."}));

  // An all-zero map still yields one pixel (the first argmax) under an open gate.
  ProbMap zero(3, 3, 0.0f);
  EXPECT_EQ(apply_postprocess(zero, 0.7f, pp), draw({"#..", "...", "..."}));
  EXPECT_EQ(count_nonzero(peak_region(zero)), 1);
  EXPECT_EQ(largest_component(draw({"#.#", "..#", "..."})), draw({"..#", "..#", "..."}));
  EXPECT_EQ(largest_component(draw({"#.#", "...", "..."})), draw({"#..", "...", "..."}));  // tie: raster order
}

TEST(EvalPostprocessJson, RoundTripAndDefaults) {
  PostprocessParams pp;
  pp.pixel_threshold = 0.25f;
  pp.min_component_area = 7;
  pp.triplet = true;
  pp.top_threshold = 0.75f;
  pp.bottom_threshold = 0.375f;
  pp.triplet_min_area = 123;
  pp.classifier_threshold = 0.625f;
  const nlohmann::json j = to_json(pp);
  EXPECT_EQ(j.at("triplet_min_area"), 123);
  auto back = postprocess_params_from_json(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, pp);

  auto partial = postprocess_params_from_json(nlohmann::json{{"top_threshold", 0.5}});
  ASSERT_TRUE(partial);
  PostprocessParams expected;
  expected.top_threshold = 0.5f;
  EXPECT_EQ(*partial, expected);
}

TEST(EvalPostprocessJson, ErrorsNameSourceAndField) {
  auto typo = postprocess_params_from_json(nlohmann::json{{"top_treshold", 0.5}}, "pp.json");
  ASSERT_FALSE(typo);
  EXPECT_EQ(typo.error().code, ErrorCode::kBadInput);
  EXPECT_NE(typo.error().message.find("pp.json: unknown field 'top_treshold'"), std::string::npos);

  auto type = postprocess_params_from_json(nlohmann::json{{"top_threshold", "high"}}, "pp.json");
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().message, "pp.json: field 'top_threshold': expected a number in [0, 1], got \"high\"");

  EXPECT_FALSE(postprocess_params_from_json(nlohmann::json{{"bottom_threshold", 1.5}}));
  EXPECT_FALSE(postprocess_params_from_json(nlohmann::json{{"triplet_min_area", -1}}));
  EXPECT_FALSE(postprocess_params_from_json(nlohmann::json{{"triplet_min_area", 2.5}}));
  EXPECT_FALSE(postprocess_params_from_json(nlohmann::json{{"triplet", 1}}));
  EXPECT_FALSE(postprocess_params_from_json(nlohmann::json::array()));
}
