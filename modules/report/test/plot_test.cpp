// Plot API: bin arithmetic checked by hand, PNGs checked by reading their pixels back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <filesystem>

#include "pneumo/core/files.hpp"
#include "pneumo/report/plot.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

fs::path out_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("pneumo_plot_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

#ifndef PNEUMO_STRICT_TESTS
#define PNEUMO_STRICT_TESTS 0
#endif
// install-deps.sh installs gnuplot: under PNEUMO_STRICT_TESTS (CI) a missing one is a failure.
#define REQUIRE_GNUPLOT()                                                                        \
  if (!find_gnuplot()) {                                                                         \
    if (PNEUMO_STRICT_TESTS) FAIL() << "gnuplot not installed (scripts/install-deps.sh installs it)"; \
    GTEST_SKIP() << "gnuplot not installed (apt-get install gnuplot-nox)";                      \
  }

// The bar fill: the most common gray level that is not the white background.
int fill_level(const Image8& img) {
  std::array<long long, 256> hist{};
  for (auto v : img.px) hist[v] += 1;
  int best = 0;
  for (int v = 0; v < 240; ++v) best = hist[v] > hist[best] ? v : best;
  return best;
}

long long bar_pixels(const Image8& img, int level, int col_begin, int col_end) {
  long long n = 0;
  for (int r = 0; r < img.rows; ++r) {
    for (int c = col_begin; c < col_end; ++c) n += img.at(r, c) == level;
  }
  return n;
}

TEST(HistogramBins, EqualWidthByHand) {
  auto bins = histogram_bins({1, 2, 3, 4, 10}, 3);
  ASSERT_EQ(bins.size(), 3u);
  EXPECT_DOUBLE_EQ(bins[0].lo, 1);
  EXPECT_DOUBLE_EQ(bins[0].hi, 4);
  EXPECT_DOUBLE_EQ(bins[2].hi, 10);
  EXPECT_EQ(bins[0].count, 3);  // 1, 2, 3
  EXPECT_EQ(bins[1].count, 1);  // 4
  EXPECT_EQ(bins[2].count, 1);  // 10: the last bin includes max
}

TEST(HistogramBins, LogSpacedByHand) {
  auto bins = histogram_bins({1, 10, 50, 100}, 2, /*log_x=*/true);
  ASSERT_EQ(bins.size(), 2u);
  EXPECT_NEAR(bins[0].lo, 1, 1e-9);
  EXPECT_NEAR(bins[0].hi, 10, 1e-9);
  EXPECT_NEAR(bins[1].hi, 100, 1e-9);
  EXPECT_EQ(bins[0].count, 1);
  EXPECT_EQ(bins[1].count, 3);
}

TEST(HistogramBins, AllEqualValuesAndEmpty) {
  auto bins = histogram_bins({5, 5, 5}, 4);
  long long total = 0;
  for (const auto& b : bins) total += b.count;
  EXPECT_EQ(total, 3);
  EXPECT_TRUE(histogram_bins({}, 4).empty());
}

TEST(Plot, BarHeightsFollowValues) {
  REQUIRE_GNUPLOT();
  const fs::path png = out_dir("bars") / "bars.png";
  PlotStyle style;
  style.width = 600;
  style.height = 400;
  ASSERT_TRUE(plot_bars(png, "test_title with_underscores", {"small", "big"}, {1, 4}, style));
  auto img = read_png_gray(png);
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->cols, 600);
  EXPECT_EQ(img->rows, 400);
  const int level = fill_level(*img);
  const long long left = bar_pixels(*img, level, 0, 300), right = bar_pixels(*img, level, 300, 600);
  EXPECT_GT(left, 1000);
  // Same width, 4x the height (the y axis starts at 0; top margin adds a little slack).
  EXPECT_NEAR(static_cast<double>(right) / left, 4.0, 0.6) << left << " vs " << right;
  // Nothing but the final PNG is left next to it.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(png.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Plot, HistogramAndLinesProducePngs) {
  REQUIRE_GNUPLOT();
  const fs::path dir = out_dir("hist_lines");
  PlotStyle log_style;
  log_style.log_x = true;
  ASSERT_TRUE(plot_histogram(dir / "h.png", "areas", {10, 100, 120, 1000, 5000}, 10, log_style));
  ASSERT_TRUE(plot_lines(dir / "l.png", "loss", "epoch",
                         {{"train", {1, 2, 3}, {0.9, 0.5, 0.3}}, {"valid's", {1, 2, 3}, {1.0, 0.7, 0.6}}}));
  for (const char* name : {"h.png", "l.png"}) {
    auto img = read_png_gray(dir / name);
    ASSERT_TRUE(img) << img.error().message;
    EXPECT_EQ(img->cols, 900);
    EXPECT_EQ(img->rows, 540);
  }
}

TEST(Plot, ScatterProducesPngAndChecksSeries) {
  REQUIRE_GNUPLOT();
  const fs::path dir = out_dir("scatter");
  ASSERT_TRUE(plot_scatter(dir / "s.png", "clusters", {{"cluster 0", {0, 1, 2}, {0, 1, 0}}, {"noise", {5}, {5}}}));
  auto img = read_png_gray(dir / "s.png");
  ASSERT_TRUE(img) << img.error().message;
  EXPECT_EQ(img->cols, 900);
  auto ragged = plot_scatter(dir / "x.png", "t", {{"c", {1, 2}, {1}}});
  ASSERT_FALSE(ragged);
  EXPECT_EQ(ragged.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(plot_scatter(dir / "x.png", "t", {}));
}

TEST(Plot, BadArgumentsAreErrors) {
  const fs::path dir = out_dir("bad");
  auto mismatch = plot_bars(dir / "x.png", "t", {"a", "b"}, {1});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, ErrorCode::kInvalidArgument);
  auto empty = plot_histogram(dir / "x.png", "t", {}, 10);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  PlotStyle log_style;
  log_style.log_x = true;
  EXPECT_FALSE(plot_histogram(dir / "x.png", "t", {0, 1}, 10, log_style));
  auto ragged = plot_lines(dir / "x.png", "t", "x", {{"s", {1, 2}, {1}}});
  ASSERT_FALSE(ragged);
  EXPECT_NE(ragged.error().message.find("series 's'"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "x.png"));
}

TEST(Plot, MissingGnuplotIsUnsupported) {
  ::setenv("PNEUMO_GNUPLOT", "/nonexistent/gnuplot", 1);
  auto st = plot_bars(out_dir("missing") / "x.png", "t", {"a"}, {1});
  ::unsetenv("PNEUMO_GNUPLOT");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(st.error().message.find("gnuplot not found"), std::string::npos);
}

}  // namespace
}  // namespace pneumo
