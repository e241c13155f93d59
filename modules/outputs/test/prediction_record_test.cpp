#include "pneumo/outputs/prediction_record.hpp"

#include <gtest/gtest.h>

namespace pneumo {
namespace {

void fill(Mask& m, int r0, int r1, int c0, int c1) {
  for (int r = r0; r < r1; ++r) {
    for (int c = c0; c < c1; ++c) m.at(r, c) = 1;
  }
}

TEST(AffectedSide, ImageLeftIsPatientRightOnFrontalViews) {
  Mask m(100, 100);
  fill(m, 10, 40, 5, 30);  // image left half
  EXPECT_EQ(affected_side(m, "PA"), AffectedSide::kRight);
  EXPECT_EQ(affected_side(m, "AP"), AffectedSide::kRight);
  EXPECT_EQ(affected_side(m, ""), AffectedSide::kRight);
  Mask n(100, 100);
  fill(n, 10, 40, 70, 95);
  EXPECT_EQ(affected_side(n, "PA"), AffectedSide::kLeft);
}

TEST(AffectedSide, BilateralNeedsAMeaningfulShareOnEachSide) {
  Mask both(100, 100);
  fill(both, 10, 40, 5, 30);   // 750 px image-left
  fill(both, 10, 40, 70, 95);  // 750 px image-right
  EXPECT_EQ(affected_side(both, "PA"), AffectedSide::kBilateral);

  Mask mostly_left(100, 100);
  fill(mostly_left, 0, 50, 0, 40);    // 2000 px image-left
  fill(mostly_left, 90, 95, 80, 90);  // 50 px image-right: 2.4% < 10%
  EXPECT_EQ(affected_side(mostly_left, "PA"), AffectedSide::kRight);

  Mask share(100, 100);
  fill(share, 0, 45, 0, 20);   // 900 px
  fill(share, 0, 10, 80, 90);  // 100 px = exactly 10%
  EXPECT_EQ(affected_side(share, "PA"), AffectedSide::kBilateral);
}

TEST(AffectedSide, ComponentGoesToTheHalfOfItsCentroid) {
  Mask m(100, 100);
  fill(m, 20, 30, 10, 60);  // spans the midline, centroid at column 34.5 (image left)
  EXPECT_EQ(affected_side(m, "PA"), AffectedSide::kRight);
}

TEST(AffectedSide, EmptyAndLateral) {
  Mask m(50, 50);
  EXPECT_EQ(affected_side(m, "PA"), AffectedSide::kNone);
  fill(m, 1, 5, 1, 5);
  EXPECT_EQ(affected_side(m, "LL"), AffectedSide::kUndetermined);
  EXPECT_EQ(affected_side(m, "rl"), AffectedSide::kUndetermined);
  EXPECT_STREQ(side_name(AffectedSide::kBilateral), "bilateral");
  EXPECT_EQ(parse_side("left").value(), AffectedSide::kLeft);
  EXPECT_FALSE(parse_side("middle").ok());
}

TEST(PredictionRecord, AreaInSquareCentimetres) {
  EXPECT_DOUBLE_EQ(*mask_area_cm2(100, 0.1, 0.2), 0.02);
  EXPECT_DOUBLE_EQ(*mask_area_cm2(1024 * 1024, 0.168, 0.168), 1024.0 * 1024 * 0.168 * 0.168 / 100);
  EXPECT_FALSE(mask_area_cm2(100, std::nullopt, 0.2).has_value());
  EXPECT_FALSE(mask_area_cm2(100, 0.0, 0.2).has_value());
}

TEST(PredictionRecord, JsonRoundTrip) {
  PredictionRecord r;
  r.image_id = "1.2.3";
  r.source_file = "1.2.3.dcm";
  r.rows = 1024;
  r.cols = 1024;
  r.view_position = "PA";
  r.probability = 0.25f;
  r.threshold = 0.75f;
  r.decided_by = "gate";
  r.max_pixel_probability = 0.5f;
  r.positive = true;
  r.mask_area_px = 1234;
  r.mask_area_cm2 = 3.5;
  r.side = AffectedSide::kBilateral;
  const nlohmann::json j = to_json(r);
  EXPECT_EQ(j["side"], "bilateral");
  EXPECT_EQ(j["probability"], 0.25);
  EXPECT_EQ(j["mask_area_px"], 1234);
  auto back = prediction_record_from_json(j, "predictions.json");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), r);

  PredictionRecord minimal;
  minimal.image_id = "x";
  const nlohmann::json k = to_json(minimal);
  EXPECT_TRUE(k["threshold"].is_null());
  EXPECT_EQ(k["decided_by"], "mask");
  EXPECT_TRUE(k["mask_area_cm2"].is_null());
  EXPECT_EQ(prediction_record_from_json(k, "p").value(), minimal);

  nlohmann::json broken = j;
  broken.erase("positive");
  auto err = prediction_record_from_json(broken, "predictions.json");
  ASSERT_FALSE(err.ok());
  EXPECT_NE(err.error().message.find("predictions.json: field 'positive'"), std::string::npos) << err.error().message;
}

}  // namespace
}  // namespace pneumo
