// bench_cli: times a whole command-line run (process start to exit) and its peak RSS, then
// summarises the submission CSV it wrote. Both sides of the `predict` case run under it, so
// pneumo's CLI and the Python script are measured the same way (interpreter / library start-up,
// model loading, DICOM decoding, inference and writing all count).
//
//   bench_cli --side pneumo --items 47 --csv OUT/submission.csv --clean OUT [--reps 3] [--warmup 1]
//             [--peer "what the command does"] pneumo predict --model M --input DIR --out OUT
//
// The first argument that is not one of bench_cli's options starts the command (no `--`, so
// bench/run.sh's `pair` can keep `--` as its own separator).
//
// Each run: --clean's folder is removed, the command is started with fork/execvp (stdout to
// /dev/null, stderr inherited), waited for with wait4, whose rusage gives the child's peak RSS.
// A non-zero exit fails the whole benchmark. After the last run the CSV (header + one
// `ImageId,EncodedPixels` row per image, "-1" = empty, SIIM relative RLE) is summarised:
// rows, positive rows and the number of mask pixels (sum of the run lengths).
// Prints one JSON object (bench_common.hpp fields); "peak_rss_kb" is the command's, the largest
// over the runs.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"

namespace {

using pneumo::ErrorCode;
using pneumo::Result;

struct RunStats {
  double seconds = 0;
  long peak_rss_kb = 0;
};

Result<RunStats> run_once(const std::vector<std::string>& command) {
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) return pneumo::fail(ErrorCode::kInternal, "fork failed");
  if (pid == 0) {
    if (FILE* devnull = std::freopen("/dev/null", "w", stdout); devnull == nullptr) _exit(127);
    execvp(argv[0], argv.data());
    std::perror(argv[0]);
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) < 0) return pneumo::fail(ErrorCode::kInternal, "wait4 failed");
  RunStats stats;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.peak_rss_kb = usage.ru_maxrss;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return pneumo::fail(ErrorCode::kInternal,
                        command[0] + " " + (command.size() > 1 ? command[1] : "") + ": exited with status " +
                            std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));
  }
  return stats;
}

struct CsvSummary {
  long long rows = 0, positive = 0, mask_pixels = 0;
};

// requires: header first; rows "ImageId,EncodedPixels" with "-1" or "gap len gap len ...".
Result<CsvSummary> summarise_csv(const std::string& path) {
  auto text = pneumo::read_file(path);
  if (!text) return text.error();
  CsvSummary s;
  int line_no = 0;
  for (const std::string_view raw : pneumo::split(*text, '\n')) {
    ++line_no;
    const std::string_view line = pneumo::trim(raw);
    if (line_no == 1 || line.empty()) continue;
    const auto comma = line.find(',');
    if (comma == std::string::npos) {
      return pneumo::fail(ErrorCode::kBadInput, path + ":" + std::to_string(line_no) + ": expected ImageId,EncodedPixels");
    }
    ++s.rows;
    const std::string_view rle = pneumo::trim(line.substr(comma + 1));
    if (rle == "-1" || rle.empty()) continue;
    ++s.positive;
    std::vector<std::string_view> numbers;
    for (const auto& n : pneumo::split(rle, ' ')) {
      if (!n.empty()) numbers.push_back(n);
    }
    for (std::size_t i = 1; i < numbers.size(); i += 2) {
      auto length = pneumo::parse_int(numbers[i]);
      if (!length) {
        return pneumo::fail(ErrorCode::kBadInput, path + ":" + std::to_string(line_no) + ": run length '" +
                                                      std::string(numbers[i]) + "' is not an integer");
      }
      s.mask_pixels += *length;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times a command-line run and summarises the submission CSV it writes"};
  std::string side = "pneumo", csv, clean, peer, unit = "images";
  long long items = 0;
  int reps = 3, warmup = 1;
  std::vector<std::string> command;
  app.add_option("--side", side, "pneumo or python (the JSON's side field)");
  app.add_option("--items", items, "images one run processes")->required();
  app.add_option("--unit", unit, "what an item is");
  app.add_option("--csv", csv, "submission CSV the command writes")->required();
  app.add_option("--clean", clean, "folder removed before every run (the command's output folder)");
  app.add_option("--peer", peer, "description shown in the table's notes");
  app.add_option("--reps", reps, "timed runs (median reported)");
  app.add_option("--warmup", warmup, "untimed runs first (page cache)");
  app.prefix_command();  // the first positional argument starts the command; the rest is passed on
  CLI11_PARSE(app, argc, argv);
  command = app.remaining();
  if (command.empty()) {
    return pneumo::bench::report("bench_cli", pneumo::fail(ErrorCode::kInvalidArgument,
                                                           "no command given (after the options)"));
  }

  std::vector<double> seconds;
  long peak_rss_kb = 0;
  for (int i = 0; i < warmup + std::max(1, reps); ++i) {
    if (!clean.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(clean, ec);
    }
    auto run = run_once(command);
    if (!run) return pneumo::bench::report("bench_cli", run.error());
    peak_rss_kb = std::max(peak_rss_kb, run->peak_rss_kb);
    if (i >= warmup) seconds.push_back(run->seconds);
  }
  auto summary = summarise_csv(csv);
  if (!summary) return pneumo::bench::report("bench_cli", summary.error());

  std::sort(seconds.begin(), seconds.end());
  const std::size_t n = seconds.size();
  const pneumo::bench::Timing t{n % 2 ? seconds[n / 2] : (seconds[n / 2 - 1] + seconds[n / 2]) / 2, seconds.front(),
                                static_cast<int>(n)};
  nlohmann::json out = pneumo::bench::result_json(t, items, unit);
  out["side"] = side;
  out["peak_rss_kb"] = peak_rss_kb;
  if (!peer.empty()) out["peer"] = peer;
  out["images_per_second"] = t.median_s > 0 ? static_cast<double>(items) / t.median_s : 0.0;
  out["check"] = {{"rows", summary->rows},
                  {"positive", summary->positive},
                  // float on purpose: the two sides may differ by a few pixels at mask edges
                  // (resizing), which report.py tolerates (0.5 %) for floats only.
                  {"mask_pixels", static_cast<double>(summary->mask_pixels)}};
  out["ok"] = summary->rows == items;
  return pneumo::bench::emit(out);
}
