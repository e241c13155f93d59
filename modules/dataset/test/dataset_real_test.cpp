// The index on the real SIIM samples in ../shared/data, checked against an oracle built here by
// set arithmetic: label ids from a plain parse of the CSV, UIDs from reading each file's header.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/dataset/folds.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

const fs::path kSiim = fs::path(PNEUMO_SHARED_DATA) / "siim";

// Independent of mask_rle: the ImageId is everything before the first comma, trimmed.
std::set<std::string> label_ids(const fs::path& csv) {
  std::ifstream in(csv);
  std::set<std::string> ids;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    std::string id = line.substr(0, line.find(','));
    id.erase(0, id.find_first_not_of(" \t\r"));
    id.erase(id.find_last_not_of(" \t\r") + 1);
    if (!id.empty()) ids.insert(id);
  }
  return ids;
}

std::map<std::string, std::string> positives_by_id(const fs::path& csv) {  // id -> "1" if any RLE
  std::ifstream in(csv);
  std::map<std::string, std::string> out;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const auto comma = line.find(',');
    std::string id = line.substr(0, comma), rle = line.substr(comma + 1);
    id.erase(0, id.find_first_not_of(' '));
    rle.erase(0, rle.find_first_not_of(' '));
    if (rle.rfind("-1", 0) != 0) out[id] = "1";
    else out.emplace(id, "0");
  }
  return out;
}

IndexOptions options() {
  IndexOptions o;
  o.threads = 2;
  o.progress = false;
  return o;
}

TEST(DatasetRealData, SiimSamplesMatchOracle) {
  const fs::path csv = kSiim / "train-rle.csv", dir = kSiim / "dicom";
  if (!fs::exists(csv) || !fs::is_directory(dir)) GTEST_SKIP() << "real data not found under " << kSiim;

  const std::set<std::string> ids = label_ids(csv);
  std::set<std::string> uids;
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".dcm") continue;
    ++files;
    auto meta = read_dicom_meta(entry.path());
    ASSERT_TRUE(meta) << meta.error().message;
    uids.insert(meta->sop_instance_uid);
  }
  std::set<std::string> matched, orphans, unlabeled;
  std::set_intersection(ids.begin(), ids.end(), uids.begin(), uids.end(), std::inserter(matched, matched.end()));
  std::set_difference(ids.begin(), ids.end(), uids.begin(), uids.end(), std::inserter(orphans, orphans.end()));
  std::set_difference(uids.begin(), uids.end(), ids.begin(), ids.end(), std::inserter(unlabeled, unlabeled.end()));
  ASSERT_FALSE(matched.empty());

  auto index = build_dataset_index(csv, dir, options());
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_EQ(static_cast<int>(index->images.size()), files);
  EXPECT_TRUE(index->unreadable_files.empty());
  EXPECT_TRUE(index->duplicate_images.empty());

  std::set<std::string> got_matched, got_unlabeled;
  for (std::size_t i : index->matched_images()) got_matched.insert(index->images[i].image_id());
  for (std::size_t i : index->unlabeled_images) got_unlabeled.insert(index->images[i].image_id());
  EXPECT_EQ(got_matched, matched);
  EXPECT_EQ(got_unlabeled, unlabeled);
  EXPECT_EQ(std::set<std::string>(index->orphan_labels.begin(), index->orphan_labels.end()), orphans);
  EXPECT_EQ(index->labels.images.size(), ids.size());
  // The README's edge case: unlabelled stage-2 test images have non-UID-shaped ids.
  for (const auto& uid : unlabeled) EXPECT_EQ(uid.rfind("ID_", 0), 0u) << uid;
}

TEST(DatasetRealData, Dicom1kFoldsKeepPatientsTogetherAndBalancePositives) {
  const fs::path csv = kSiim / "train-rle.csv", dir = kSiim / "dicom-1k";
  if (!fs::exists(csv) || !fs::is_directory(dir)) GTEST_SKIP() << "real data not found under " << kSiim;
  auto index = build_dataset_index(csv, dir, options());
  ASSERT_TRUE(index) << index.error().message;
  const auto expected_positive = positives_by_id(csv);

  const int k = 5;
  auto folds = assign_folds(*index, k, 42);
  ASSERT_TRUE(folds) << folds.error().message;
  ASSERT_EQ(folds->size(), index->matched_images().size());
  std::map<std::string, std::set<int>> folds_of_group;
  std::vector<int> pos(k, 0);
  for (const auto& e : *folds) {
    EXPECT_EQ(e.positive ? "1" : "0", expected_positive.at(e.image_id)) << e.image_id;
    folds_of_group[e.group].insert(e.fold);
    pos[e.fold] += e.positive;
  }
  for (const auto& [group, f] : folds_of_group) EXPECT_EQ(f.size(), 1u) << "group " << group << " spans folds";
  // One image per patient here, so positives balance to within one.
  EXPECT_LE(*std::max_element(pos.begin(), pos.end()) - *std::min_element(pos.begin(), pos.end()), 1);
}

}  // namespace
}  // namespace pneumo
