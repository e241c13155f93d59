#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "pneumo/core/exit_codes.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/core/strings.hpp"

namespace fs = std::filesystem;
using namespace pneumo;

TEST(Strings, TrimStripsBomAndWhitespace) {
  EXPECT_EQ(trim("\xEF\xBB\xBF ImageId\r\n"), "ImageId");
  EXPECT_EQ(trim("   "), "");
}

TEST(Strings, ParseIntIsStrict) {
  EXPECT_EQ(parse_int(" 42 "), 42);
  EXPECT_EQ(parse_int("-1"), -1);
  EXPECT_FALSE(parse_int("4x2"));
  EXPECT_FALSE(parse_int(""));
  EXPECT_FALSE(parse_int("1.5"));
}

TEST(Strings, SplitKeepsEmptyFields) {
  auto parts = split("a,,b", ',');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[1], "");
}

TEST(Files, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  fs::path dir = fs::temp_directory_path() / ("pneumo_core_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(write_file_atomic(dir / "a.txt", "first"));
  ASSERT_TRUE(write_file_atomic(dir / "a.txt", "second"));
  EXPECT_EQ(read_file(dir / "a.txt").value(), "second");
  int entries = 0;
  for (auto& e : fs::directory_iterator(dir)) { (void)e; ++entries; }
  EXPECT_EQ(entries, 1);
  fs::remove_all(dir);
}

TEST(Files, FailedWriterKeepsOldFile) {
  fs::path dir = fs::temp_directory_path() / ("pneumo_core_test2_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(write_file_atomic(dir / "keep.txt", "precious"));
  Status st = write_via_temp(dir / "keep.txt", [](const fs::path& temp) -> Status {
    write_file_atomic(temp, "partial").value();
    return fail(ErrorCode::kIo, "simulated failure");
  });
  EXPECT_FALSE(st);
  EXPECT_EQ(read_file(dir / "keep.txt").value(), "precious");
  fs::remove_all(dir);
}

TEST(Files, MissingFileIsNotFound) {
  auto r = read_file("/nonexistent/pneumo/file.csv");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("/nonexistent/pneumo/file.csv"), std::string::npos);
  EXPECT_EQ(exit_code_for(r.error().code), kExitNotFound);
}

TEST(Files, PngRoundTrip) {
  fs::path p = fs::temp_directory_path() / ("pneumo_png_" + std::to_string(::getpid()) + ".png");
  Image8 img(3, 5);
  for (size_t i = 0; i < img.px.size(); ++i) img.px[i] = static_cast<std::uint8_t>(i * 17);
  ASSERT_TRUE(write_png(p, img));
  auto back = read_png_gray(p);
  ASSERT_TRUE(back);
  EXPECT_EQ(back.value(), img);
  fs::remove(p);
}

TEST(Files, PngReaderRejectsGarbage) {
  fs::path p = fs::temp_directory_path() / ("pneumo_bad_" + std::to_string(::getpid()) + ".png");
  ASSERT_TRUE(write_file_atomic(p, "not a png at all"));
  auto r = read_png_gray(p);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kBadInput);
  fs::remove(p);
}

TEST(Parallel, VisitsEveryIndexOnce) {
  std::vector<std::atomic<int>> hits(1000);
  parallel_for(hits.size(), 4, [&](size_t i) { hits[i]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(Parallel, PropagatesExceptions) {
  EXPECT_THROW(parallel_for(100, 3, [](size_t i) { if (i == 50) throw std::runtime_error("x"); }),
               std::runtime_error);
}

namespace {

// Everything a Progress wrote to a temporary file.
std::string progress_output(long long total, long long ticks, bool terminal, std::chrono::milliseconds interval) {
  std::FILE* f = std::tmpfile();
  EXPECT_NE(f, nullptr);
  {
    Progress bar("decode", total, /*enabled=*/true, f, terminal, interval);
    for (long long i = 0; i < ticks; ++i) bar.tick();
    bar.finish();
  }
  std::string text;
  std::rewind(f);
  for (int c; (c = std::fgetc(f)) != EOF;) text.push_back(static_cast<char>(c));
  std::fclose(f);
  return text;
}

long long count_lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

}  // namespace

TEST(Progress, OffATerminalAtMostOneLinePerTenPercent) {
  const std::string log = progress_output(100000, 100000, /*terminal=*/false, std::chrono::milliseconds(0));
  EXPECT_EQ(log.find('\r'), std::string::npos) << "no carriage returns in a log";
  EXPECT_LE(count_lines(log), 11) << log;  // 0 %, 10 %, ..., 90 %, and the final line
  EXPECT_GE(count_lines(log), 2) << log;
  EXPECT_NE(log.find("100000/100000 100.0%"), std::string::npos) << log;
}

TEST(Progress, OffATerminalAtMostOneLinePerInterval) {
  // With an hour between lines, a fast job logs its first step and the final line only.
  const std::string log = progress_output(1000, 1000, /*terminal=*/false, std::chrono::hours(1));
  EXPECT_EQ(count_lines(log), 2) << log;
}

TEST(Progress, OnATerminalRedrawsInPlace) {
  const std::string out = progress_output(10, 10, /*terminal=*/true, std::chrono::milliseconds(0));
  EXPECT_NE(out.find('\r'), std::string::npos);
  EXPECT_EQ(count_lines(out), 1);  // one line, redrawn, closed by finish()
}
