// bench_dicom: pneumo's DICOM decode to 8 bits + resize to 512x512, timed.
//
//   bench_dicom --dir ../shared/data/siim/dicom [--mode full|resized] [--repeat 3]
//               [--threads 1|0=all] [--size 512] [--reps 3]
//
// Work items are the sorted .dcm files repeated --repeat times. Per item:
//   --mode full     pneumo::read_dicom (full-size decode) + pneumo::resize_image (cv::INTER_AREA)
//   --mode resized  pneumo::read_dicom_resized (what the preprocessing cache does): JPEG decoded
//                   at 1/2, 1/4 or 1/8 in the DCT domain, then area-resized to the exact size
// OpenCV's own thread pool is switched off, so --threads alone sets the parallelism
// (pneumo::parallel_for), as bench/python/dicom_peer.py does with cv2.setNumThreads(1) +
// multiprocessing.Pool.
// One untimed warm-up pass reads every file once. The check object says what was produced, so
// report.py can compare it with the peer's: `pixel_sum` (full mode: exact, equals a full-decode
// peer's) or `pixel_sum_reduced_decode` (resized mode: exact, equals a peer that also decodes at
// reduced size), and `mean_pixel` in both (compared within 0.5 %, which is how a reduced decode
// is checked against a full-decode peer). In resized mode a `quality` object also gives the mean
// and maximum absolute difference of every file's output from full decode + INTER_AREA
// (computed after the timing). `cpu_seconds` is the process's CPU time per repetition.
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <opencv2/core.hpp>  // cv::setNumThreads only
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/transforms/resize.hpp"

namespace {

enum class Mode { kFull, kResized };

pneumo::Result<pneumo::Image8> load_resized(const std::filesystem::path& path, int size, Mode mode) {
  if (mode == Mode::kResized) {
    auto dicom = pneumo::read_dicom_resized(path, /*target_rows=*/size, /*target_cols=*/size);
    if (!dicom) return dicom.error();
    return std::move(dicom->image);
  }
  auto dicom = pneumo::read_dicom(path);
  if (!dicom) return dicom.error();
  return pneumo::resize_image(dicom->image, /*rows=*/size, /*cols=*/size);
}

// User + system CPU time of the whole process: on a shared machine it moves far less with the
// load than wall time does, so the CPU-time ratio is the steadier figure.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

long long pixel_sum(const pneumo::Image8& image) {
  long long sum = 0;
  for (std::uint8_t v : image.px) sum += v;
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times pneumo's DICOM decode + resize over a folder of DICOMs"};
  std::string dir;
  Mode mode = Mode::kFull;
  int repeat = 3;
  int threads = 1;
  int size = 512;
  int reps = 3;
  app.add_option("--dir", dir, "folder of .dcm files (searched recursively)")->required();
  app.add_option("--mode", mode, "full: read_dicom + resize_image; resized: read_dicom_resized")
      ->transform(CLI::CheckedTransformer(std::map<std::string, Mode>{{"full", Mode::kFull}, {"resized", Mode::kResized}}));
  app.add_option("--repeat", repeat, "process every file this many times per repetition");
  app.add_option("--threads", threads, "worker threads (0 = all cores)");
  app.add_option("--size", size, "output side length");
  app.add_option("--reps", reps, "timed repetitions (median reported)");
  CLI11_PARSE(app, argc, argv);

  cv::setNumThreads(1);
  if (threads <= 0) threads = pneumo::default_threads();

  auto files = pneumo::list_files(dir, {".dcm"});
  if (!files) return pneumo::bench::report("bench_dicom", files.error());
  if (files->empty()) {
    return pneumo::bench::report("bench_dicom",
                                 pneumo::fail(pneumo::ErrorCode::kNotFound, "no .dcm files under " + dir));
  }
  std::vector<std::filesystem::path> items;
  for (int r = 0; r < std::max(1, repeat); ++r) items.insert(items.end(), files->begin(), files->end());

  // Per-item results so threads never share a counter; an error keeps the first message.
  std::vector<long long> sums(items.size(), 0);
  std::vector<std::string> errors(items.size());
  auto run = [&](std::size_t count) {
    pneumo::parallel_for(count, threads, [&](std::size_t i) {
      auto image = load_resized(items[i], size, mode);
      if (image) sums[i] = pixel_sum(*image); else errors[i] = image.error().message;
    });
  };

  run(files->size());  // warm-up: page cache, DCMTK codec registration
  const double cpu_before = process_cpu_seconds();
  const auto timing = pneumo::bench::time_reps(reps, [&] { run(items.size()); });
  const double cpu_per_rep = (process_cpu_seconds() - cpu_before) / timing.reps;
  for (const std::string& e : errors) {
    if (!e.empty()) return pneumo::bench::report("bench_dicom", pneumo::fail(pneumo::ErrorCode::kBadInput, e));
  }

  long long total = 0;
  for (long long s : sums) total += s;
  const auto n = static_cast<long long>(items.size());
  auto out = pneumo::bench::result_json(timing, n, "images");
  out["workers"] = threads;
  out["cpu_seconds"] = cpu_per_rep;  // user + system CPU of all threads, mean per repetition
  out["mode"] = mode == Mode::kFull ? "full" : "resized";
  out["check"] = {{"files", files->size()},
                  {"items", n},
                  {mode == Mode::kFull ? "pixel_sum" : "pixel_sum_reduced_decode", total},
                  {"mean_pixel", static_cast<double>(total) / (static_cast<double>(n) * size * size)}};
  if (mode == Mode::kResized) {  // how far the fast path is from full decode + INTER_AREA
    long long abs_sum = 0;
    int max_abs = 0;
    for (const auto& path : *files) {
      auto fast = load_resized(path, size, Mode::kResized);
      auto full = load_resized(path, size, Mode::kFull);
      if (!fast || !full) return pneumo::bench::report("bench_dicom", fast ? full.error() : fast.error());
      for (std::size_t i = 0; i < fast->px.size(); ++i) {
        const int d = std::abs(static_cast<int>(fast->px[i]) - static_cast<int>(full->px[i]));
        abs_sum += d;
        max_abs = std::max(max_abs, d);
      }
    }
    out["quality"] = {{"mean_abs_diff_vs_full_decode",
                       static_cast<double>(abs_sum) / (static_cast<double>(files->size()) * size * size)},
                      {"max_abs_diff_vs_full_decode", max_abs}};
  }
  out["ok"] = true;
  return pneumo::bench::emit(out);
}
