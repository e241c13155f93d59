// ChestX-ray14-style multi-label CSV (NIH Data_Entry_2017.csv): the image-level labels an encoder
// can be pre-trained on as a classifier. No LibTorch.
//
//   auto table = pneumo::read_chestxray14_csv("Data_Entry_2017.csv");
//   if (!table) return table.error();    // "Data_Entry_2017.csv:7: Finding Labels: unknown finding 'Pneumo'"
//   if (const MultiLabelRow* row = table->find("00000001_000.png")) use(row->labels);  // 15 x 0/1
//
// Format: a header naming at least the columns `Image Index` and `Finding Labels` (any order, any
// other columns ignored); one row per image; fields separated by commas (surrounding double quotes
// and spaces are stripped); `Finding Labels` is `No Finding` or one or more of the 14 findings
// joined by `|`. UTF-8 BOM, CRLF and blank lines are accepted.
// Classes, in this order (the NIH paper's, then "No Finding"): chestxray14_classes().
// Errors (kBadInput) name the file and line: a row with too few fields, an empty image index, a
// repeated image index, an unknown finding, "No Finding" combined with a finding, an empty label.
//
// Thread-safety: pure functions; a table is a plain value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

// The 14 findings then "No Finding" (15 names). Index 7 is "Pneumothorax".
const std::vector<std::string>& chestxray14_classes();
constexpr int kChestXray14Findings = 14;
constexpr int kChestXray14Pneumothorax = 7;
constexpr int kChestXray14NoFinding = 14;

struct MultiLabelRow {
  std::string image_index;            // e.g. "00000001_000.png"
  std::vector<std::uint8_t> labels;   // 15 values, 0 or 1 (chestxray14_classes() order)
  int line = 0;                       // 1-based line in the file
};

struct MultiLabelTable {
  std::string source;
  std::vector<MultiLabelRow> rows;    // in file order
  std::unordered_map<std::string, std::size_t> by_image;

  const MultiLabelRow* find(std::string_view image_index) const;
  std::vector<long long> class_counts() const;  // images per class (15)
};

// True when the first non-empty line is a header with `Image Index` and `Finding Labels`.
bool looks_like_chestxray14_csv(std::string_view text);

Result<MultiLabelTable> parse_chestxray14_csv(std::string_view text, std::string_view source);
Result<MultiLabelTable> read_chestxray14_csv(const std::filesystem::path& path);

}  // namespace pneumo
