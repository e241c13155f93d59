// Label CSV reader/writer: dialects found in the wild, union and duplicate handling, and errors
// that name the file and line.
#include "pneumo/mask_rle/label_csv.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "pneumo/core/files.hpp"

namespace pneumo {
namespace {

LabelCsvOptions small(int rows, int cols) {
  LabelCsvOptions o;
  o.rows = rows;
  o.cols = cols;
  return o;
}

TEST(LabelCsv, SiimHeaderWithSpaceUnionAndDuplicates) {
  const std::string text =
      "ImageId, EncodedPixels\n"
      "a,-1\n"
      "b, 0 2\n"
      "b, 1 2\n"   // second mask of b: union
      "b, 0 2\n"   // exact duplicate of line 3
      "c, 11 1\n"
      "a,-1\n";    // duplicate negative row
  auto t = parse_label_csv(text, "t.csv", small(3, 4));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->had_header);
  EXPECT_EQ(t->rows, 6);
  EXPECT_EQ(t->duplicate_rows, 2);
  ASSERT_EQ(t->images.size(), 3u);
  EXPECT_EQ(t->positive_images(), 2);
  EXPECT_EQ(t->negative_images(), 1);
  EXPECT_EQ(t->mask_rows(), 3);

  const ImageLabel* a = t->find("a");
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(a->positive());
  EXPECT_TRUE(a->has_negative_row);
  EXPECT_EQ(a->duplicate_rows, 1);
  EXPECT_EQ(a->first_line, 2);

  const ImageLabel* b = t->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->mask_count(), 2);
  EXPECT_EQ(b->encodings, (std::vector<std::string>{"0 2", "1 2"}));
  EXPECT_EQ(b->lines, (std::vector<int>{3, 4}));
  EXPECT_EQ(b->duplicate_rows, 1);
  EXPECT_EQ(t->find("zzz"), nullptr);

  auto mask = decode_label_mask(*b, small(3, 4), "t.csv");
  ASSERT_TRUE(mask.ok()) << mask.error().message;
  Mask expected(3, 4);
  expected.at(0, 0) = expected.at(1, 0) = expected.at(2, 0) = 1;  // pixels 0,1 union 1,2
  EXPECT_EQ(*mask, expected);

  auto neg = decode_label_mask(*a, small(3, 4), "t.csv");
  ASSERT_TRUE(neg.ok());
  EXPECT_EQ(*neg, Mask(3, 4));
}

TEST(LabelCsv, DialectsInTheWildParseToTheSameTable) {
  const std::string variants[] = {
      "ImageId, EncodedPixels\na,-1\nb, 1 2\n",
      "ImageId,EncodedPixels\na,-1\nb,1 2\n",
      "fname,mask\na,-1\nb,1 2",
      "\xEF\xBB\xBF" "a,-1\r\nb, 1 2\r\n",
      "\xEF\xBB\xBF" "a,-1\r\nb, 1 2",             // no final newline
      "\xEF\xBB\xBF" "fname,mask\r\n\r\na , -1 \r\n b ,1 2\r\n\r\n",  // blank lines, spaces
  };
  for (const std::string& text : variants) {
    SCOPED_TRACE(text);
    auto t = parse_label_csv(text, "v.csv", small(3, 4));
    ASSERT_TRUE(t.ok()) << t.error().message;
    EXPECT_EQ(t->rows, 2);
    ASSERT_EQ(t->images.size(), 2u);
    EXPECT_EQ(t->images[0].image_id, "a");
    EXPECT_FALSE(t->images[0].positive());
    EXPECT_EQ(t->images[1].image_id, "b");
    EXPECT_EQ(t->images[1].encodings, std::vector<std::string>{"1 2"});
  }
}

TEST(LabelCsv, EmptyFileIsAnEmptyTable) {
  auto t = parse_label_csv("", "e.csv", {});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->rows, 0);
  EXPECT_TRUE(t->images.empty());
}

struct BadCsv {
  std::string text;
  std::string expected;  // full "file:line: ..." prefix plus a reason substring
};

TEST(LabelCsv, ErrorsNameFileLineAndReason) {
  const BadCsv cases[] = {
      {"ImageId,EncodedPixels\na,-1\nb 1 2\n", "bad.csv:3: expected 'ImageId,EncodedPixels', found no comma"},
      {"a,-1\n, 1 2\n", "bad.csv:2: empty ImageId"},
      {"a,-1\nb,1 2,3\n", "bad.csv:2: expected 2 fields"},
      {"a,-1\n\nb, 1 2 3\n", "bad.csv:3: EncodedPixels: odd number of values (3)"},
      {"a, 1 x\n", "bad.csv:1: EncodedPixels: value 2 ('x') is not a whole number"},
      {"a,-1\nb, 1 0\n", "bad.csv:2: EncodedPixels: run 1: length 0"},
      {"a,-1\nb, 1 -3\n", "bad.csv:2: EncodedPixels: run 1: length -3"},
      {"a,-1\nb, 10 3\n", "bad.csv:2: EncodedPixels: run ends at pixel 13, past the end of a 4x3 mask"},
      {"a,-1\r\nb, 1 2 -2 1\r\n", "bad.csv:2: EncodedPixels: run 2: negative gap -2"},
      {"a,12 abc\n", "bad.csv:1: EncodedPixels: value 2 ('abc')"},  // digits: data, not a header
  };
  for (const BadCsv& c : cases) {
    SCOPED_TRACE(c.text);
    auto t = parse_label_csv(c.text, "bad.csv", small(3, 4));
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().code, ErrorCode::kBadInput);
    EXPECT_EQ(t.error().message.rfind(c.expected, 0), 0u) << t.error().message;
  }
}

TEST(LabelCsv, AbsoluteOverlapIsAnErrorWithLine) {
  LabelCsvOptions o = small(3, 4);
  o.format = RleFormat::kAbsolute;
  auto t = parse_label_csv("a,1 3 2 1\n", "abs.csv", o);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message.rfind("abs.csv:1: EncodedPixels: run 2: starts at 2", 0), 0u) << t.error().message;
}

TEST(LabelCsv, WithoutValidationDecodeStillReportsTheLine) {
  LabelCsvOptions o = small(3, 4);
  o.validate = false;
  auto t = parse_label_csv("a,-1\nb,0 1\nb,10 3\n", "late.csv", o);
  ASSERT_TRUE(t.ok()) << t.error().message;
  auto m = decode_label_mask(*t->find("b"), o, "late.csv");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message.rfind("late.csv:3: EncodedPixels: run ends at pixel 13", 0), 0u) << m.error().message;
}

TEST(LabelCsv, ReadFileUsesThePathInMessagesAndMissingFileIsNotFound) {
  const auto dir = std::filesystem::path(PNEUMO_BINARY_DIR) / "mask_rle_test_tmp";
  ASSERT_TRUE(ensure_directory(dir).ok());
  const auto path = dir / "broken.csv";
  ASSERT_TRUE(write_file_atomic(path, "ImageId,EncodedPixels\nx,5\n").ok());
  auto t = read_label_csv(path, {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message, path.string() + ":2: EncodedPixels: odd number of values (1): the last run has no length");

  auto missing = read_label_csv(dir / "nope.csv", {});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(LabelCsv, FormatAndWriteRoundTrip) {
  const std::vector<LabelCsvRow> rows = {{"b", "1 2"}, {"a", "-1"}, {"c", ""}};
  EXPECT_EQ(format_label_csv(rows), "ImageId,EncodedPixels\nb,1 2\na,-1\nc,-1\n");

  const auto path = std::filesystem::path(PNEUMO_BINARY_DIR) / "mask_rle_test_tmp" / "written.csv";
  ASSERT_TRUE(write_label_csv(path, rows).ok());
  auto t = read_label_csv(path, small(3, 4));
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->had_header);
  EXPECT_EQ(t->rows, 3);
  EXPECT_EQ(t->positive_images(), 1);

  auto bad = write_label_csv(path, {{"x,y", "-1"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace pneumo
