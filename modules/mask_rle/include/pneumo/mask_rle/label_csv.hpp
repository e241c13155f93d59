// Reading and writing SIIM label files (train-rle.csv and its variants in the wild).
//
// Accepts: header "ImageId, EncodedPixels" (with or without the leading space), any other
// two-column header such as "fname,mask", or no header at all; UTF-8 BOM; CRLF; no final newline;
// spaces around fields. Several rows for one ImageId are unioned; exact duplicate rows
// (same ImageId and same EncodedPixels text after trimming) are counted and dropped.
//
//   auto table = pneumo::read_label_csv("train-rle.csv", {});
//   if (!table) { std::cerr << table.error().message; }   // "train-rle.csv:1834: run ends at ..."
//   const ImageLabel* l = table->find(uid);
//   Mask m = pneumo::decode_label_mask(*l, {}, "train-rle.csv").value();
//
// Thread-safe: a LabelTable is immutable after reading; functions are pure.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace pneumo {

struct LabelCsvOptions {
  RleFormat format = RleFormat::kRelative;
  int rows = 1024;  // mask height
  int cols = 1024;  // mask width
  bool validate = true;  // decode every RLE while reading so errors carry file:line
};

struct ImageLabel {
  std::string image_id;
  std::vector<std::string> encodings;  // distinct non-empty RLEs; empty vector = negative image
  std::vector<int> lines;              // 1-based file line of each encoding (parallel to encodings)
  int first_line = 0;                  // line where the ImageId first appears
  int duplicate_rows = 0;              // exact duplicate rows dropped for this image
  bool has_negative_row = false;       // a "-1" row was present (conflicts if also positive)
  bool positive() const { return !encodings.empty(); }
  int mask_count() const { return static_cast<int>(encodings.size()); }
};

struct LabelTable {
  std::string source;              // file name used in messages
  long long rows = 0;              // data rows read (header excluded)
  long long duplicate_rows = 0;    // exact duplicates dropped
  bool had_header = false;
  std::vector<ImageLabel> images;  // in order of first appearance
  std::unordered_map<std::string, std::size_t> by_id;

  const ImageLabel* find(std::string_view image_id) const;
  long long positive_images() const;
  long long negative_images() const;
  long long mask_rows() const;  // non-empty rows after removing duplicates
};

Result<LabelTable> parse_label_csv(std::string_view text, std::string_view source_name,
                                   const LabelCsvOptions& options);
Result<LabelTable> read_label_csv(const std::filesystem::path& path, const LabelCsvOptions& options);

// Union of all of an image's encodings; errors are prefixed "<source>:<line>: ".
Result<Mask> decode_label_mask(const ImageLabel& label, const LabelCsvOptions& options,
                               std::string_view source_name);

// Writes "ImageId,EncodedPixels" rows (one row per entry; "-1" for an empty mask) atomically.
// The header is written as SIIM writes it: "ImageId,EncodedPixels".
struct LabelCsvRow {
  std::string image_id;
  std::string encoded;  // already encoded, "-1" for empty
};
Status write_label_csv(const std::filesystem::path& path, const std::vector<LabelCsvRow>& rows);
std::string format_label_csv(const std::vector<LabelCsvRow>& rows);

}  // namespace pneumo
