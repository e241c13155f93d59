// bench_dicom: pneumo::read_dicom (DCMTK decode -> 8 bits) + resize to 512x512, timed.
//
//   bench_dicom --dir ../shared/data/siim/dicom [--repeat 3] [--threads 1|0=all] [--size 512]
//               [--reps 3]
//
// Work items are the sorted .dcm files repeated --repeat times; each item is read with
// pneumo::read_dicom and shrunk with pneumo::resize_image (area averaging, cv::INTER_AREA
// inside). OpenCV's own thread pool is switched off, so --threads alone sets the parallelism
// (pneumo::parallel_for), as bench/python/dicom_peer.py does with cv2.setNumThreads(1) +
// multiprocessing.Pool.
// One untimed warm-up pass reads every file once. The sum of all resized pixels is printed as
// a check that both sides produced the same images.
#include <CLI/CLI.hpp>
#include <opencv2/core.hpp>  // cv::setNumThreads only
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/transforms/resize.hpp"

namespace {

// Reads one DICOM and returns the sum of its resized pixels.
pneumo::Result<long long> load_resized_sum(const std::filesystem::path& path, int size) {
  auto dicom = pneumo::read_dicom(path);
  if (!dicom) return dicom.error();
  const pneumo::Image8 small = pneumo::resize_image(dicom->image, /*rows=*/size, /*cols=*/size);
  long long sum = 0;
  for (std::uint8_t v : small.px) sum += v;
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times pneumo::read_dicom + resize over a folder of DICOMs"};
  std::string dir;
  int repeat = 3;
  int threads = 1;
  int size = 512;
  int reps = 3;
  app.add_option("--dir", dir, "folder of .dcm files (searched recursively)")->required();
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
      auto sum = load_resized_sum(items[i], size);
      if (sum) sums[i] = *sum; else errors[i] = sum.error().message;
    });
  };

  run(files->size());  // warm-up: page cache, DCMTK codec registration
  const auto timing = pneumo::bench::time_reps(reps, [&] { run(items.size()); });
  for (const std::string& e : errors) {
    if (!e.empty()) return pneumo::bench::report("bench_dicom", pneumo::fail(pneumo::ErrorCode::kBadInput, e));
  }

  long long total = 0;
  for (long long s : sums) total += s;
  const auto n = static_cast<long long>(items.size());
  auto out = pneumo::bench::result_json(timing, n, "images");
  out["workers"] = threads;
  out["check"] = {{"files", files->size()},
                  {"items", n},
                  {"pixel_sum", total},
                  {"mean_pixel", static_cast<double>(total) / (static_cast<double>(n) * size * size)}};
  out["ok"] = true;
  return pneumo::bench::emit(out);
}
