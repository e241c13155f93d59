// The ChestX-ray14 multi-label CSV reader on a committed sample (Data_Entry_2017.csv layout).
#include <gtest/gtest.h>

#include "pneumo/pretrain/chestxray_csv.hpp"

namespace pneumo {
namespace {

const std::string kSample = std::string(PNEUMO_PRETRAIN_TEST_DIR) + "/chestxray14_sample.csv";

std::vector<std::uint8_t> labels_of(std::initializer_list<const char*> names) {
  std::vector<std::uint8_t> v(15, 0);
  const auto& classes = chestxray14_classes();
  for (const char* n : names) {
    auto it = std::find(classes.begin(), classes.end(), n);
    EXPECT_NE(it, classes.end()) << n;
    v[it - classes.begin()] = 1;
  }
  return v;
}

TEST(ChestXray14Csv, ClassesInNihOrder) {
  const auto& c = chestxray14_classes();
  ASSERT_EQ(c.size(), 15u);
  EXPECT_EQ(c[kChestXray14Pneumothorax], "Pneumothorax");
  EXPECT_EQ(c[kChestXray14NoFinding], "No Finding");
  EXPECT_EQ(c[0], "Atelectasis");
  EXPECT_EQ(c[13], "Hernia");
}

TEST(ChestXray14Csv, ReadsCommittedSample) {
  auto t = read_chestxray14_csv(kSample);
  ASSERT_TRUE(t.ok()) << t.error().message;
  ASSERT_EQ(t->rows.size(), 8u);
  EXPECT_EQ(t->rows[1].image_index, "00000001_001.png");
  EXPECT_EQ(t->rows[1].line, 3);
  EXPECT_EQ(t->rows[1].labels, labels_of({"Cardiomegaly", "Emphysema"}));
  EXPECT_EQ(t->find("00000002_000.png")->labels, labels_of({"No Finding"}));
  EXPECT_EQ(t->find("00000013_005.png")->labels,
            labels_of({"Emphysema", "Infiltration", "Pleural_Thickening", "Pneumothorax"}));
  EXPECT_EQ(t->find("no-such.png"), nullptr);
  const auto counts = t->class_counts();
  EXPECT_EQ(counts[kChestXray14Pneumothorax], 2);
  EXPECT_EQ(counts[kChestXray14NoFinding], 2);
  EXPECT_EQ(counts[1], 2);  // Cardiomegaly
  EXPECT_EQ(counts[10], 2); // Emphysema
  long long total = 0;
  for (auto n : counts) total += n;
  EXPECT_EQ(total, 1 + 2 + 1 + 1 + 2 + 4 + 7 + 1);
}

TEST(ChestXray14Csv, HeaderDetectionAndFormats) {
  EXPECT_TRUE(looks_like_chestxray14_csv("\xEF\xBB\xBFImage Index,Finding Labels\r\na.png,Mass\r\n"));
  EXPECT_TRUE(looks_like_chestxray14_csv("\n\"Finding Labels\",\"Image Index\"\n"));
  EXPECT_FALSE(looks_like_chestxray14_csv("ImageId, EncodedPixels\n1.2.3,-1\n"));
  // Columns in another order, quotes, CRLF, BOM, a blank line.
  auto t = parse_chestxray14_csv("\xEF\xBB\xBF\"Finding Labels\",x,\"Image Index\"\r\n\r\n\"Mass|Nodule\",1,\"a.png\"\r\n", "q.csv");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->rows[0].image_index, "a.png");
  EXPECT_EQ(t->rows[0].labels, labels_of({"Mass", "Nodule"}));
}

TEST(ChestXray14Csv, ErrorsNameFileAndLine) {
  struct Case {
    std::string text;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"Image Index,Finding Labels\na.png,Mass\nb.png,Pneumo\n", "x.csv:3: Finding Labels: unknown finding 'Pneumo'"},
      {"Image Index,Finding Labels\na.png\n", "x.csv:2: expected at least 2 fields, got 1"},
      {"Image Index,Finding Labels\na.png,Mass\na.png,Edema\n", "x.csv:3: Image Index 'a.png' already appeared on line 2"},
      {"Image Index,Finding Labels\na.png,No Finding|Mass\n", "x.csv:2: Finding Labels: 'No Finding' together"},
      {"Image Index,Finding Labels\n,Mass\n", "x.csv:2: Image Index is empty"},
      {"Image Index,Finding Labels\na.png,\n", "x.csv:2: Finding Labels is empty"},
      {"ImageId,EncodedPixels\n1,-1\n", "x.csv:1: expected a header"},
      {"", "x.csv: empty file"},
  };
  for (const auto& c : cases) {
    auto t = parse_chestxray14_csv(c.text, "x.csv");
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_EQ(t.error().code, ErrorCode::kBadInput);
    EXPECT_NE(t.error().message.find(c.expect), std::string::npos) << t.error().message;
  }
}

}  // namespace
}  // namespace pneumo
