#include "pneumo/mask_rle/mask_png_dir.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "run_parser.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find_first_of("/\\") == std::string::npos;
}

// Keeps the first error any worker reports; later workers skip their work once one is set.
class FirstError {
 public:
  void set(Error error) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!error_) error_ = std::move(error);
    failed_ = true;
  }
  bool failed() const { return failed_.load(); }
  std::optional<Error> take() { return std::move(error_); }

 private:
  std::mutex mutex_;
  std::atomic<bool> failed_{false};
  std::optional<Error> error_;
};

}  // namespace

Result<DecodeToPngsSummary> decode_label_csv_to_pngs(const fs::path& csv, const fs::path& out_dir,
                                                     const LabelCsvOptions& options, int threads,
                                                     bool show_progress) {
  LabelCsvOptions read_options = options;
  read_options.validate = true;  // every error surfaces with file:line before anything is written
  auto table = read_label_csv(csv, read_options);
  if (!table) return table.error();
  for (const ImageLabel& label : table->images) {
    if (!is_plain_file_name(label.image_id)) {
      return fail(ErrorCode::kBadInput, table->source + ":" + std::to_string(label.first_line) +
                                            ": ImageId is not usable as a file name (contains a path separator)");
    }
  }
  if (auto st = ensure_directory(out_dir); !st) return st.error();

  Progress bar("rle decode", static_cast<long long>(table->images.size()), show_progress);
  FirstError first_error;
  parallel_for(table->images.size(), threads, [&](std::size_t i) {
    if (first_error.failed()) return;
    const ImageLabel& label = table->images[i];
    auto mask = decode_label_mask(label, read_options, table->source);
    if (!mask) {
      first_error.set(mask.error());
      return;
    }
    for (std::uint8_t& v : mask->px) v = v ? 255 : 0;
    if (auto st = write_png(out_dir / (label.image_id + ".png"), *mask); !st) {
      first_error.set(st.error());
      return;
    }
    bar.tick();
  });
  bar.finish();
  if (auto error = first_error.take()) return *error;

  DecodeToPngsSummary summary;
  summary.images = static_cast<long long>(table->images.size());
  summary.positive_images = table->positive_images();
  summary.negative_images = table->negative_images();
  summary.rows = table->rows;
  summary.duplicate_rows = table->duplicate_rows;
  return summary;
}

Result<EncodePngsSummary> encode_pngs_to_label_csv(const fs::path& masks_dir, const fs::path& out_csv,
                                                   RleFormat format, int threads, bool show_progress) {
  auto files = list_files(masks_dir, {".png"}, /*recursive=*/false);
  if (!files) return files.error();
  if (files->empty()) {
    return fail(ErrorCode::kNotFound, masks_dir.string() + ": no *.png masks found");
  }

  std::vector<LabelCsvRow> rows(files->size());
  std::vector<int> heights(files->size(), 0);
  std::vector<int> widths(files->size(), 0);
  Progress bar("rle encode", static_cast<long long>(files->size()), show_progress);
  FirstError first_error;
  parallel_for(files->size(), threads, [&](std::size_t i) {
    if (first_error.failed()) return;
    const fs::path& file = (*files)[i];
    auto mask = read_png_gray(file);
    if (!mask) {
      first_error.set(mask.error());
      return;
    }
    rows[i].image_id = file.stem().string();
    rows[i].encoded = encode_rle(*mask, format);  // any non-zero pixel counts as mask
    heights[i] = mask->rows;
    widths[i] = mask->cols;
    bar.tick();
  });
  bar.finish();
  if (auto error = first_error.take()) return *error;

  EncodePngsSummary summary;
  summary.rows = heights[0];
  summary.cols = widths[0];
  for (std::size_t i = 1; i < files->size(); ++i) {
    if (heights[i] != summary.rows || widths[i] != summary.cols) {
      return fail(ErrorCode::kBadInput,
                  (*files)[i].string() + ": mask is " + rle_detail::mask_size_text(heights[i], widths[i]) +
                      " but " + (*files)[0].filename().string() + " is " +
                      rle_detail::mask_size_text(summary.rows, summary.cols) +
                      "; all masks in one label CSV must share a size");
    }
  }
  // Stems of distinct files in one directory are distinct except for "a.png" vs "a.PNG".
  std::sort(rows.begin(), rows.end(),
            [](const LabelCsvRow& a, const LabelCsvRow& b) { return a.image_id < b.image_id; });
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].image_id == rows[i - 1].image_id) {
      return fail(ErrorCode::kBadInput, masks_dir.string() + ": two mask files share the name stem of one ImageId");
    }
  }
  for (const LabelCsvRow& r : rows) {
    if (r.encoded != "-1") ++summary.positive_images;
  }
  summary.images = static_cast<long long>(rows.size());
  if (auto st = write_label_csv(out_csv, rows); !st) return st.error();
  return summary;
}

}  // namespace pneumo
