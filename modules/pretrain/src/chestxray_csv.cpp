// ChestX-ray14 multi-label CSV reader.
#include "pneumo/pretrain/chestxray_csv.hpp"

#include <algorithm>

#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"

namespace pneumo {
namespace {

std::string_view unquote(std::string_view field) {
  field = trim(field);
  if (field.size() >= 2 && field.front() == '"' && field.back() == '"') field = trim(field.substr(1, field.size() - 2));
  return field;
}

std::vector<std::string_view> lines_of(std::string_view text) { return split(text, '\n'); }

}  // namespace

const std::vector<std::string>& chestxray14_classes() {
  static const std::vector<std::string> kClasses = {
      "Atelectasis", "Cardiomegaly", "Effusion",  "Infiltration", "Mass",
      "Nodule",      "Pneumonia",    "Pneumothorax", "Consolidation", "Edema",
      "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia", "No Finding"};
  return kClasses;
}

const MultiLabelRow* MultiLabelTable::find(std::string_view image_index) const {
  auto it = by_image.find(std::string(image_index));
  return it == by_image.end() ? nullptr : &rows[it->second];
}

std::vector<long long> MultiLabelTable::class_counts() const {
  std::vector<long long> counts(chestxray14_classes().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < counts.size(); ++c) counts[c] += row.labels[c];
  }
  return counts;
}

bool looks_like_chestxray14_csv(std::string_view text) {
  for (auto line : lines_of(text)) {
    line = trim(line);
    if (line.empty()) continue;
    bool index = false, findings = false;
    for (auto field : split(line, ',')) {
      field = unquote(field);
      index = index || field == "Image Index";
      findings = findings || field == "Finding Labels";
    }
    return index && findings;
  }
  return false;
}

Result<MultiLabelTable> parse_chestxray14_csv(std::string_view text, std::string_view source) {
  MultiLabelTable table;
  table.source = std::string(source);
  const auto& classes = chestxray14_classes();
  const std::string where(source);
  int image_col = -1, labels_col = -1;
  std::size_t needed = 0;
  int line_no = 0;
  for (auto raw : lines_of(text)) {
    ++line_no;
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    const auto fields = split(line, ',');
    if (image_col < 0) {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        const auto f = unquote(fields[i]);
        if (f == "Image Index") image_col = static_cast<int>(i);
        if (f == "Finding Labels") labels_col = static_cast<int>(i);
      }
      if (image_col < 0 || labels_col < 0) {
        return fail(ErrorCode::kBadInput, where + ":" + std::to_string(line_no) +
                                              ": expected a header with the columns 'Image Index' and 'Finding Labels'");
      }
      needed = static_cast<std::size_t>(std::max(image_col, labels_col)) + 1;
      continue;
    }
    const std::string prefix = where + ":" + std::to_string(line_no) + ": ";
    if (fields.size() < needed) {
      return fail(ErrorCode::kBadInput, prefix + "expected at least " + std::to_string(needed) + " fields, got " +
                                            std::to_string(fields.size()));
    }
    MultiLabelRow row;
    row.line = line_no;
    row.image_index = std::string(unquote(fields[image_col]));
    if (row.image_index.empty()) return fail(ErrorCode::kBadInput, prefix + "Image Index is empty");
    if (table.by_image.count(row.image_index)) {
      return fail(ErrorCode::kBadInput, prefix + "Image Index '" + row.image_index + "' already appeared on line " +
                                            std::to_string(table.rows[table.by_image.at(row.image_index)].line));
    }
    row.labels.assign(classes.size(), 0);
    const auto labels = unquote(fields[labels_col]);
    if (labels.empty()) return fail(ErrorCode::kBadInput, prefix + "Finding Labels is empty (expected 'No Finding' or findings joined by '|')");
    for (auto name : split(labels, '|')) {
      name = trim(name);
      auto it = std::find(classes.begin(), classes.end(), name);
      if (it == classes.end()) {
        return fail(ErrorCode::kBadInput, prefix + "Finding Labels: unknown finding '" + std::string(name) +
                                              "' (expected one of the 14 ChestX-ray14 findings or 'No Finding')");
      }
      row.labels[it - classes.begin()] = 1;
    }
    int findings = 0;
    for (int c = 0; c < kChestXray14Findings; ++c) findings += row.labels[c];
    if (row.labels[kChestXray14NoFinding] && findings > 0) {
      return fail(ErrorCode::kBadInput, prefix + "Finding Labels: 'No Finding' together with a finding");
    }
    table.by_image.emplace(row.image_index, table.rows.size());
    table.rows.push_back(std::move(row));
  }
  if (image_col < 0) return fail(ErrorCode::kBadInput, where + ": empty file (expected a ChestX-ray14 header)");
  return table;
}

Result<MultiLabelTable> read_chestxray14_csv(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_chestxray14_csv(*text, path.string());
}

}  // namespace pneumo
