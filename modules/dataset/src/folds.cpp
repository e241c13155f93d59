#include "pneumo/dataset/folds.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>

#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"

namespace pneumo {
namespace {

constexpr std::string_view kGroupSalt = "pneumo/folds/v1:";
constexpr std::string_view kHeader = "ImageId,fold,positive,mask_count,path,group";

std::uint64_t fnv1a64(std::string_view text, std::uint64_t hash = 1469598103934665603ull) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

// splitmix64 finaliser: spreads FNV's weak low bits over the 48 we keep.
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Group {
  std::string key;                   // PatientID (or ImageId); only used in memory
  std::vector<std::size_t> members;  // indices into the candidate list
  int positives = 0;
};

// Fisher-Yates with our own bounded draw: std::shuffle and uniform_int_distribution differ
// between standard libraries, mt19937_64's raw output does not.
template <typename T>
void seeded_shuffle(std::vector<T>& items, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (std::size_t i = items.size(); i > 1; --i) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % i;  // reject the biased tail
    std::uint64_t r;
    do r = rng(); while (r >= limit);
    std::swap(items[i - 1], items[r % i]);
  }
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// Splits one CSV line honouring double quotes ("" inside quotes is a quote).
std::optional<std::vector<std::string>> split_csv_line(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return std::nullopt;
  return fields;
}

}  // namespace

std::string group_key(std::string_view patient_id) {
  const std::uint64_t h = mix64(fnv1a64(patient_id, fnv1a64(kGroupSalt)));
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return std::string(buf, 12);
}

Result<std::vector<FoldEntry>> assign_folds(const DatasetIndex& index, int k, std::uint64_t seed) {
  if (k < 2) return fail(ErrorCode::kInvalidArgument, "folds: k must be at least 2, got " + std::to_string(k));

  // Candidates: (image id, patient key, label, path).
  struct Candidate {
    std::string image_id;
    std::string patient;
    const ImageLabel* label;
    std::string path;
  };
  std::vector<Candidate> candidates;
  if (index.has_dicoms()) {
    for (std::size_t i : index.matched_images()) {
      const IndexedImage& image = index.images[i];
      std::string patient(trim(image.meta.patient_id));
      // No PatientID: the image is its own group (prefixed so it cannot collide with a real ID).
      if (patient.empty()) patient = "\x01image:" + image.image_id();
      candidates.push_back({image.image_id(), std::move(patient), index.label_of(image), image.path.string()});
    }
  } else {
    for (const ImageLabel& label : index.labels.images) {
      candidates.push_back({label.image_id, "\x01image:" + label.image_id, &label, ""});
    }
  }
  // ImageId order first, so the result does not depend on the folder layout or CSV row order.
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.image_id < b.image_id; });

  std::map<std::string, std::size_t> group_of;  // ordered: deterministic group order before shuffling
  std::vector<Group> groups;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    auto [it, fresh] = group_of.emplace(candidates[i].patient, groups.size());
    if (fresh) groups.push_back({candidates[i].patient, {}, 0});
    Group& g = groups[it->second];
    g.members.push_back(i);
    g.positives += candidates[i].label->positive() ? 1 : 0;
  }
  if (static_cast<int>(groups.size()) < k) {
    return fail(ErrorCode::kInvalidArgument, "folds: " + std::to_string(groups.size()) +
                                                 " patient groups cannot fill " + std::to_string(k) + " folds");
  }

  // Groups were created in ImageId order; shuffle, then stable-sort so big groups are placed
  // first while equal groups keep their seeded order.
  seeded_shuffle(groups, seed);
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) {
    if (a.positives != b.positives) return a.positives > b.positives;
    return a.members.size() > b.members.size();
  });

  std::vector<long long> fold_positives(k, 0), fold_images(k, 0);
  std::vector<int> fold_of(candidates.size(), -1);
  for (const Group& g : groups) {
    int best = 0;
    for (int f = 1; f < k; ++f) {
      const bool better = g.positives > 0
                              ? std::pair(fold_positives[f], fold_images[f]) < std::pair(fold_positives[best], fold_images[best])
                              : fold_images[f] < fold_images[best];
      if (better) best = f;
    }
    fold_positives[best] += g.positives;
    fold_images[best] += static_cast<long long>(g.members.size());
    for (std::size_t m : g.members) fold_of[m] = best;
  }

  std::vector<FoldEntry> entries;
  entries.reserve(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const Candidate& c = candidates[i];
    entries.push_back({c.image_id, fold_of[i], c.label->positive(), c.label->mask_count(), c.path, group_key(c.patient)});
  }
  return entries;
}

std::string format_folds_csv(const std::vector<FoldEntry>& entries) {
  std::string out(kHeader);
  out += "\n";
  for (const FoldEntry& e : entries) {
    out += csv_field(e.image_id) + "," + std::to_string(e.fold) + "," + (e.positive ? "1" : "0") + "," +
           std::to_string(e.mask_count) + "," + csv_field(e.path) + "," + csv_field(e.group) + "\n";
  }
  return out;
}

Status write_folds_csv(const std::filesystem::path& path, const std::vector<FoldEntry>& entries) {
  return write_file_atomic(path, format_folds_csv(entries));
}

Result<std::vector<FoldEntry>> parse_folds_csv(std::string_view text, std::string_view source_name) {
  const std::string source(source_name);
  std::vector<FoldEntry> entries;
  int line_no = 0;
  std::map<std::string, int> column;  // header name -> position
  auto field_error = [&](const std::string& field, const std::string& expected, const std::string& got) {
    return fail(ErrorCode::kBadInput, source + ":" + std::to_string(line_no) + ": field " + field + ": expected " +
                                          expected + ", got '" + got + "'");
  };
  for (std::string_view raw : split(text, '\n')) {
    ++line_no;
    const std::string_view line = trim(raw);
    if (line.empty()) continue;
    auto fields = split_csv_line(line);
    if (!fields) {
      return fail(ErrorCode::kBadInput, source + ":" + std::to_string(line_no) + ": unterminated quoted field");
    }
    if (column.empty()) {
      for (std::size_t i = 0; i < fields->size(); ++i) column[std::string(trim((*fields)[i]))] = static_cast<int>(i);
      for (const char* required : {"ImageId", "fold", "positive", "mask_count"}) {
        if (!column.contains(required)) {
          return fail(ErrorCode::kBadInput, source + ":1: header lacks column '" + required + "', expected " +
                                                std::string(kHeader));
        }
      }
      continue;
    }
    auto get = [&](const char* name) -> std::string {
      auto it = column.find(name);
      if (it == column.end() || it->second >= static_cast<int>(fields->size())) return "";
      return std::string(trim((*fields)[it->second]));
    };
    if (fields->size() != column.size()) {
      return fail(ErrorCode::kBadInput, source + ":" + std::to_string(line_no) + ": expected " +
                                            std::to_string(column.size()) + " fields, got " +
                                            std::to_string(fields->size()));
    }
    FoldEntry e;
    e.image_id = get("ImageId");
    if (e.image_id.empty()) return field_error("ImageId", "a SOPInstanceUID", "");
    const std::string fold = get("fold");
    auto fold_value = parse_int(fold);
    if (!fold_value || *fold_value < 0) return field_error("fold", "a non-negative integer", fold);
    e.fold = static_cast<int>(*fold_value);
    const std::string positive = get("positive");
    if (positive != "0" && positive != "1") return field_error("positive", "0 or 1", positive);
    e.positive = positive == "1";
    const std::string masks = get("mask_count");
    auto mask_value = parse_int(masks);
    if (!mask_value || *mask_value < 0) return field_error("mask_count", "a non-negative integer", masks);
    e.mask_count = static_cast<int>(*mask_value);
    if ((e.mask_count > 0) != e.positive) {
      return field_error("mask_count", e.positive ? "at least 1 for a positive image" : "0 for a negative image", masks);
    }
    e.path = get("path");
    e.group = get("group");
    entries.push_back(std::move(e));
  }
  if (column.empty()) return fail(ErrorCode::kBadInput, source + ": empty file, expected header " + std::string(kHeader));
  return entries;
}

Result<std::vector<FoldEntry>> read_folds_csv(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_folds_csv(*text, path.string());
}

Result<std::vector<FoldEntry>> folds_for(const DatasetIndex& index, const std::filesystem::path& folds_csv, int k,
                                         std::uint64_t seed) {
  if (!folds_csv.empty()) return read_folds_csv(folds_csv);
  return assign_folds(index, k, seed);
}

}  // namespace pneumo
