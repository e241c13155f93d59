// RLE codec: hand vectors from the SIIM format description, error cases, and seeded random round
// trips checked against a deliberately naive oracle written here from the description.
#include "pneumo/mask_rle/mask_rle.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace pneumo {
namespace {

// --- Oracle: straight from the format description, one pixel at a time. ---------------------
// Column-major: pixel index p = col * rows + row.

std::string oracle_encode(const Mask& m, RleFormat format) {
  std::ostringstream out;
  const long long total = static_cast<long long>(m.rows) * m.cols;
  long long prev_end = 0;
  bool any = false;
  long long p = 0;
  while (p < total) {
    if (m.at(static_cast<int>(p % m.rows), static_cast<int>(p / m.rows)) == 0) {
      ++p;
      continue;
    }
    long long start = p;
    while (p < total && m.at(static_cast<int>(p % m.rows), static_cast<int>(p / m.rows)) != 0) ++p;
    if (any) out << ' ';
    if (format == RleFormat::kRelative) {
      out << (start - prev_end) << ' ' << (p - start);
    } else {
      out << (start + 1) << ' ' << (p - start);
    }
    prev_end = p;
    any = true;
  }
  return any ? out.str() : "-1";
}

Mask oracle_decode(const std::string& text, int rows, int cols, RleFormat format) {
  Mask m(rows, cols);
  if (text == "-1") return m;
  std::istringstream in(text);
  std::vector<long long> v;
  for (long long x; in >> x;) v.push_back(x);
  long long prev_end = 0;
  for (size_t i = 0; i + 1 < v.size(); i += 2) {
    long long start = format == RleFormat::kRelative ? prev_end + v[i] : v[i] - 1;
    for (long long p = start; p < start + v[i + 1]; ++p) m.at(static_cast<int>(p % rows), static_cast<int>(p / rows)) = 1;
    prev_end = start + v[i + 1];
  }
  return m;
}

Mask binarized(const Mask& m) {
  Mask b = m;
  for (auto& v : b.px) v = v ? 1 : 0;
  return b;
}

Mask mask_from_rows(int rows, int cols, const std::vector<std::string>& picture) {
  Mask m(rows, cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m.at(r, c) = picture[r][c] == '#' ? 1 : 0;
  return m;
}

// --- Hand vectors -------------------------------------------------------------------------------

TEST(MaskRle, RelativeFirstGapIsZeroBasedOffsetDownTheFirstColumn) {
  // 3 rows x 4 cols; "1 2" = pixels 1,2 = (row 1, col 0) and (row 2, col 0).
  auto m = decode_rle("1 2", /*rows=*/3, /*cols=*/4, RleFormat::kRelative);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(*m, mask_from_rows(3, 4, {"....", "#...", "#..."}));
}

TEST(MaskRle, RelativeLaterGapsCountFromEndOfPreviousRun) {
  // run 1: pixels 1..2; run 2: gap 3 after pixel 2 -> starts at 6 = (row 0, col 2), length 4
  // wraps down col 2 (rows 0..2) into (row 0, col 3).
  auto m = decode_rle("1 2 3 4", 3, 4, RleFormat::kRelative);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(*m, mask_from_rows(3, 4, {"..##", "#.#.", "#.#."}));
  EXPECT_EQ(encode_rle(*m, RleFormat::kRelative), "1 2 3 4");
  EXPECT_EQ(encode_rle(*m, RleFormat::kAbsolute), "2 2 7 4");
}

TEST(MaskRle, AbsoluteStartsAreOneBased) {
  auto m = decode_rle("2 2 7 4", 3, 4, RleFormat::kAbsolute);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(*m, mask_from_rows(3, 4, {"..##", "#.#.", "#.#."}));
  auto first = decode_rle("1 1", 3, 4, RleFormat::kAbsolute);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, mask_from_rows(3, 4, {"#...", "....", "...."}));
}

TEST(MaskRle, OrientationIsColumnMajorNotRowMajor) {
  // A horizontal bar in row 0 of a 3x4 mask is 4 separate runs, one per column.
  Mask bar = mask_from_rows(3, 4, {"####", "....", "...."});
  EXPECT_EQ(encode_rle(bar, RleFormat::kRelative), "0 1 2 1 2 1 2 1");
  EXPECT_EQ(encode_rle(bar, RleFormat::kAbsolute), "1 1 4 1 7 1 10 1");
  // A vertical bar in column 1 is one run.
  Mask column = mask_from_rows(3, 4, {".#..", ".#..", ".#.."});
  EXPECT_EQ(encode_rle(column, RleFormat::kRelative), "3 3");
  // The last pixel (row 2, col 3) is index 11.
  EXPECT_EQ(encode_rle(mask_from_rows(3, 4, {"....", "....", "...#"}), RleFormat::kRelative), "11 1");
}

TEST(MaskRle, RunsContinueAcrossColumnsWhenTheMaskIsFull) {
  Mask full(3, 4, 1);
  EXPECT_EQ(encode_rle(full, RleFormat::kRelative), "0 12");
  EXPECT_EQ(encode_rle(full, RleFormat::kAbsolute), "1 12");
  // Bottom of col 0 through top of col 1: one run of 2.
  EXPECT_EQ(encode_rle(mask_from_rows(3, 4, {".#..", "....", "#..."}), RleFormat::kRelative), "2 2");
}

TEST(MaskRle, EmptyMaskAndEmptyEncodings) {
  EXPECT_EQ(encode_rle(Mask(3, 4), RleFormat::kRelative), "-1");
  EXPECT_EQ(encode_rle(Mask(3, 4), RleFormat::kAbsolute), "-1");
  for (const char* empty : {"-1", " -1 ", "", "  "}) {
    auto m = decode_rle(empty, 3, 4, RleFormat::kRelative);
    ASSERT_TRUE(m.ok()) << "'" << empty << "': " << m.error().message;
    EXPECT_EQ(*m, Mask(3, 4)) << "'" << empty << "'";
  }
}

TEST(MaskRle, DecodeIntoUnionsWithExistingPixels) {
  Mask m(3, 4);
  ASSERT_TRUE(decode_rle_into("0 2", m, RleFormat::kRelative).ok());
  ASSERT_TRUE(decode_rle_into("1 2", m, RleFormat::kRelative).ok());  // overlaps the first: fine
  EXPECT_EQ(m, mask_from_rows(3, 4, {"#...", "#...", "#..."}));
}

TEST(MaskRle, ExtraWhitespaceAndAdjacentRunsAreAccepted) {
  auto m = decode_rle("  0\t1  0 1\r\n", 3, 4, RleFormat::kRelative);  // gap 0: touching runs
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(encode_rle(*m, RleFormat::kRelative), "0 2");
}

TEST(MaskRle, EncodeTreatsAnyNonZeroAsMask) {
  Mask m = mask_from_rows(3, 4, {"#...", "....", "...."});
  m.at(0, 0) = 255;
  m.at(1, 0) = 7;
  EXPECT_EQ(encode_rle(m, RleFormat::kRelative), "0 2");
}

TEST(MaskRle, ParseFormat) {
  EXPECT_EQ(parse_rle_format("relative").value(), RleFormat::kRelative);
  EXPECT_EQ(parse_rle_format("Absolute").value(), RleFormat::kAbsolute);
  auto bad = parse_rle_format("rowmajor");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("rowmajor"), std::string::npos);
}

// --- Errors -------------------------------------------------------------------------------------

struct BadCase {
  const char* text;
  RleFormat format;
  const char* expected;  // substring of the message
};

TEST(MaskRle, MalformedEncodingsAreBadInputWithAReason) {
  const BadCase cases[] = {
      {"1 2 3", RleFormat::kRelative, "odd number of values (3)"},
      {"1 x", RleFormat::kRelative, "value 2 ('x') is not a whole number"},
      {"1 2a", RleFormat::kRelative, "value 2 ('2a') is not a whole number"},
      {"1.5 2", RleFormat::kRelative, "value 1 ('1.5') is not a whole number"},
      {"+1 2", RleFormat::kRelative, "value 1 ('+1') is not a whole number"},
      {"1 0", RleFormat::kRelative, "run 1: length 0, expected a positive length"},
      {"1 2 0 -1", RleFormat::kRelative, "run 2: length -1, expected a positive length"},
      {"1 2 -1 2", RleFormat::kRelative, "run 2: negative gap -1"},
      {"10 3", RleFormat::kRelative, "run ends at pixel 13, past the end of a 4x3 mask"},
      {"0 12 0 1", RleFormat::kRelative, "run ends at pixel 13, past the end of a 4x3 mask"},
      {"99 1", RleFormat::kRelative, "run 1: run starts at pixel 99, past the end of a 4x3 mask"},
      {"99999999999999999999 1", RleFormat::kRelative, "value 1 ('99999999999999999999') is too large"},
      {"0 1", RleFormat::kAbsolute, "run 1: start 0, expected a 1-based start >= 1"},
      {"5 2 3 1", RleFormat::kAbsolute, "run 2: starts at 3, before the end of the previous run at 6"},
      {"5 2 6 1", RleFormat::kAbsolute, "overlap or go backwards"},
      {"12 2", RleFormat::kAbsolute, "run ends at pixel 13, past the end of a 4x3 mask"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.text);
    auto m = decode_rle(c.text, /*rows=*/3, /*cols=*/4, c.format);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().code, ErrorCode::kBadInput);
    EXPECT_NE(m.error().message.find(c.expected), std::string::npos) << m.error().message;
  }
}

TEST(MaskRle, NonPositiveSizeIsInvalidArgument) {
  auto m = decode_rle("0 1", 0, 4, RleFormat::kRelative);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
}

// The preconditions are checked in Release builds too (they used to be asserts, compiled out by
// NDEBUG): a mask whose buffer disagrees with its size is an error, never an out-of-bounds write.
TEST(MaskRle, InconsistentMaskBufferIsRejectedInEveryBuildType) {
  Mask zero;  // 0x0
  auto st = decode_rle_into("1 2", zero, RleFormat::kRelative);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message.find("not positive"), std::string::npos) << st.error().message;

  Mask short_buffer(4, 4);
  short_buffer.px.resize(3);  // claims 4x4 but holds 3 bytes
  st = decode_rle_into("10 5", short_buffer, RleFormat::kRelative);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message.find("holds 3 bytes, expected 16"), std::string::npos) << st.error().message;
  EXPECT_EQ(short_buffer.px, std::vector<std::uint8_t>(3, 0));  // untouched

  EXPECT_THROW(encode_rle(short_buffer, RleFormat::kRelative), std::invalid_argument);
  Mask negative;
  negative.rows = -2;
  negative.cols = 3;
  EXPECT_THROW(encode_rle(negative, RleFormat::kRelative), std::invalid_argument);
  EXPECT_EQ(encode_rle(Mask{}, RleFormat::kRelative), "-1");  // 0x0 and empty is fine
}

// --- Random round trips --------------------------------------------------------------------------

Mask random_mask(std::mt19937& rng, int rows, int cols) {
  Mask m(rows, cols);
  const int kind = std::uniform_int_distribution<int>(0, 5)(rng);
  std::uniform_int_distribution<int> value(1, 255);
  switch (kind) {
    case 0: {  // salt noise at a random density
      std::bernoulli_distribution on(std::uniform_real_distribution<double>(0.0, 1.0)(rng));
      for (auto& v : m.px) v = on(rng) ? static_cast<std::uint8_t>(value(rng)) : 0;
      break;
    }
    case 1: {  // a few rectangles (blobs, like real masks)
      const int n = std::uniform_int_distribution<int>(1, 4)(rng);
      for (int k = 0; k < n; ++k) {
        int r0 = std::uniform_int_distribution<int>(0, rows - 1)(rng);
        int c0 = std::uniform_int_distribution<int>(0, cols - 1)(rng);
        int r1 = std::uniform_int_distribution<int>(r0, rows - 1)(rng);
        int c1 = std::uniform_int_distribution<int>(c0, cols - 1)(rng);
        for (int r = r0; r <= r1; ++r)
          for (int c = c0; c <= c1; ++c) m.at(r, c) = 1;
      }
      break;
    }
    case 2:  // everything
      std::fill(m.px.begin(), m.px.end(), 1);
      break;
    case 3:  // nothing
      break;
    case 4: {  // full columns and full rows, so runs wrap across column ends
      for (int c = 0; c < cols; ++c)
        if (rng() % 3 == 0)
          for (int r = 0; r < rows; ++r) m.at(r, c) = 1;
      for (int r = 0; r < rows; ++r)
        if (rng() % 4 == 0)
          for (int c = 0; c < cols; ++c) m.at(r, c) = 1;
      break;
    }
    default: {  // corners and edges
      m.at(0, 0) = 1;
      m.at(rows - 1, cols - 1) = 1;
      if (rng() % 2) m.at(rows - 1, 0) = 1;
      if (rng() % 2) m.at(0, cols - 1) = 1;
      break;
    }
  }
  return m;
}

TEST(MaskRle, SeededRandomRoundTripsMatchTheOracle) {
  constexpr unsigned kBaseSeed = 20190827;
  constexpr int kTrials = 1500;
  for (int trial = 0; trial < kTrials; ++trial) {
    const unsigned seed = kBaseSeed + trial;
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const int rows = std::uniform_int_distribution<int>(1, trial % 10 == 0 ? 300 : 40)(rng);
    const int cols = std::uniform_int_distribution<int>(1, trial % 10 == 0 ? 300 : 40)(rng);
    const Mask m = random_mask(rng, rows, cols);
    const Mask expected = binarized(m);
    for (RleFormat format : {RleFormat::kRelative, RleFormat::kAbsolute}) {
      SCOPED_TRACE(format == RleFormat::kRelative ? "relative" : "absolute");
      const std::string text = encode_rle(m, format);
      ASSERT_EQ(text, oracle_encode(m, format)) << rows << "x" << cols;
      auto back = decode_rle(text, rows, cols, format);
      ASSERT_TRUE(back.ok()) << back.error().message;
      ASSERT_EQ(*back, expected) << rows << "x" << cols;
      ASSERT_EQ(oracle_decode(text, rows, cols, format), expected);
    }
  }
}

// The encoder keeps a per-thread scratch buffer for small boxes and gives back one over 256 KB:
// alternating large and small masks on one thread must still match the oracle each time.
TEST(MaskRle, AlternatingLargeAndSmallMasksOnOneThreadMatchTheOracle) {
  std::mt19937 rng(20261130);
  for (int trial = 0; trial < 6; ++trial) {
    const int side = trial % 2 == 0 ? 700 : 30;  // 700 x 700 = 490 KB box, over the kept size
    Mask m = random_mask(rng, side, side);
    m.px.front() = 1;  // opposite corners set: the box is the whole mask
    m.px.back() = 1;
    ASSERT_EQ(encode_rle(m, RleFormat::kRelative), oracle_encode(m, RleFormat::kRelative)) << side;
  }
}

}  // namespace

}  // namespace pneumo
