// Stats over the real train-rle.csv against an oracle written here: a plain line parse for the
// counts and an interval-merging RLE decoder for the areas (pneumo uses a bitmap).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pneumo/report/stats.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

const fs::path kSiim = fs::path(PNEUMO_SHARED_DATA) / "siim";

std::string strip(std::string s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

struct Oracle {
  long long rows = 0, duplicate_rows = 0, masks = 0, multi = 0;
  int max_masks = 0;
  std::map<std::string, std::vector<std::string>> rles;  // id -> distinct non-empty RLEs
  std::vector<double> areas;                               // union area per positive image
};

// Union area of relative-RLE runs, by sorting and merging [start, end) intervals.
long long union_area(const std::vector<std::string>& encodings) {
  std::vector<std::pair<long long, long long>> runs;
  for (const auto& e : encodings) {
    std::istringstream in(e);
    long long gap, len, pos = 0;
    while (in >> gap >> len) {
      pos += gap;
      runs.emplace_back(pos, pos + len);
      pos += len;
    }
  }
  std::sort(runs.begin(), runs.end());
  long long area = 0, cur_start = -1, cur_end = -1;
  for (auto [s, e] : runs) {
    if (s > cur_end) {
      area += cur_end - cur_start;
      cur_start = s;
      cur_end = e;
    } else {
      cur_end = std::max(cur_end, e);
    }
  }
  return area + (cur_end - cur_start);
}

Oracle oracle(const fs::path& csv) {
  Oracle o;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<std::string> order;
  while (std::getline(in, line)) {
    if (strip(line).empty()) continue;
    ++o.rows;
    const auto comma = line.find(',');
    const std::string id = strip(line.substr(0, comma)), rle = strip(line.substr(comma + 1));
    if (!seen.insert({id, rle}).second) {
      ++o.duplicate_rows;
      continue;
    }
    if (!o.rles.contains(id)) order.push_back(id);
    auto& list = o.rles[id];
    if (rle != "-1" && !rle.empty()) list.push_back(rle);
  }
  for (const auto& id : order) {
    const auto& list = o.rles[id];
    o.masks += static_cast<long long>(list.size());
    o.multi += list.size() >= 2;
    o.max_masks = std::max(o.max_masks, static_cast<int>(list.size()));
    if (!list.empty()) o.areas.push_back(static_cast<double>(union_area(list)));
  }
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

TEST(StatsRealData, TrainRleMatchesIndependentOracle) {
  const fs::path csv = kSiim / "train-rle.csv";
  if (!fs::exists(csv)) GTEST_SKIP() << "real data not found: " << csv;
  const Oracle o = oracle(csv);

  IndexOptions opt;
  opt.threads = 2;
  opt.progress = false;
  auto index = build_dataset_index(csv, std::nullopt, opt);
  ASSERT_TRUE(index) << index.error().message;
  StatsOptions so;
  so.threads = 2;
  so.progress = false;
  auto s = compute_stats(*index, so);
  ASSERT_TRUE(s) << s.error().message;

  long long positives = 0;
  for (const auto& [id, list] : o.rles) positives += !list.empty();
  EXPECT_EQ(s->rows, o.rows);
  EXPECT_EQ(s->duplicate_rows, o.duplicate_rows);
  EXPECT_EQ(s->images, static_cast<long long>(o.rles.size()));
  EXPECT_EQ(s->positive_images, positives);
  EXPECT_EQ(s->negative_images, static_cast<long long>(o.rles.size()) - positives);
  EXPECT_EQ(s->masks, o.masks);
  EXPECT_EQ(s->multi_mask_images, o.multi);
  EXPECT_EQ(s->max_masks_per_image, o.max_masks);
  ASSERT_TRUE(s->mask_area_px);
  EXPECT_EQ(s->mask_areas_px, o.areas);  // same label order, same values
  EXPECT_DOUBLE_EQ(s->mask_area_px->median, median(o.areas));
  EXPECT_DOUBLE_EQ(s->mask_area_px->min, *std::min_element(o.areas.begin(), o.areas.end()));
  EXPECT_DOUBLE_EQ(s->mask_area_px->max, *std::max_element(o.areas.begin(), o.areas.end()));
}

TEST(StatsRealData, SampleDicomsGiveAreasInCm2) {
  const fs::path csv = kSiim / "train-rle.csv", dir = kSiim / "dicom";
  if (!fs::exists(csv) || !fs::is_directory(dir)) GTEST_SKIP() << "real data not found under " << kSiim;
  IndexOptions opt;
  opt.threads = 2;
  opt.progress = false;
  auto index = build_dataset_index(csv, dir, opt);
  ASSERT_TRUE(index) << index.error().message;
  StatsOptions so;
  so.threads = 2;
  so.progress = false;
  auto s = compute_stats(*index, so);
  ASSERT_TRUE(s) << s.error().message;

  // Oracle: for every matched positive DICOM with spacing, area_px * sx * sy / 100.
  std::vector<double> expected;
  long long sexes = 0;
  for (const auto& c : s->sex) sexes += c.images;
  EXPECT_EQ(sexes, s->dicom_files);
  const Oracle o = oracle(csv);
  for (const auto& e : index->images) {
    auto it = o.rles.find(e.image_id());
    if (it == o.rles.end() || it->second.empty() || !e.meta.pixel_spacing_row_mm) continue;
    expected.push_back(static_cast<double>(union_area(it->second)) * *e.meta.pixel_spacing_row_mm *
                       *e.meta.pixel_spacing_col_mm / 100.0);
  }
  ASSERT_FALSE(expected.empty());
  ASSERT_EQ(s->mask_areas_cm2.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(s->mask_areas_cm2[i], expected[i], 1e-9);
  EXPECT_EQ(s->unlabeled_images.size(), index->unlabeled_images.size());
}

}  // namespace
}  // namespace pneumo
