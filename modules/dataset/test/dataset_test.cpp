// Dataset index and folds on synthetic DICOMs written in the test (see synthetic_dicom.hpp).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include <opencv2/imgcodecs.hpp>

#include "pneumo/core/files.hpp"
#include "pneumo/dataset/dataset_index.hpp"
#include "pneumo/dataset/folds.hpp"
#include "synthetic_dicom.hpp"

namespace fs = std::filesystem;
using pneumo::testing::SyntheticDicom;
using pneumo::testing::write_synthetic_dicom;

namespace pneumo {
namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("pneumo_dataset_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

LabelCsvOptions small_masks() {
  LabelCsvOptions o;
  o.rows = 16;
  o.cols = 16;
  return o;
}

IndexOptions quiet_options() {
  IndexOptions o;
  o.threads = 2;
  o.progress = false;
  o.labels = small_masks();
  return o;
}

SyntheticDicom dicom(std::string uid, std::string patient, std::string view = "PA") {
  SyntheticDicom d;
  d.sop_instance_uid = std::move(uid);
  d.patient_id = std::move(patient);
  d.view_position = std::move(view);
  return d;
}

// The fixture folder: file names deliberately differ from the UIDs inside.
//   1.2.3.9.dcm  UID 1.2.3.5  (name looks like an orphan label's UID; content is another)
//   a.dcm        UID 1.2.3.1  patient P1, positive with 2 masks
//   b.dcm        UID 1.2.3.2  patient P1, negative
//   c.dcm        UID 1.2.3.3  patient P2, lateral (LL), positive
//   d.dcm        UID ID_test1 patient P3, no label row
//   dup.dcm      UID 1.2.3.2  same UID as b.dcm
//   sub/e.dcm    UID 1.2.3.4  patient P4, BodyPartExamined SKULL, negative
//   bad.dcm      not a DICOM
//   notes.txt    ignored (not .dcm)
const char* kCsv =
    "ImageId, EncodedPixels\n"
    "1.2.3.1, 0 4\n"
    "1.2.3.1, 20 3\n"
    "1.2.3.2,-1\n"
    "1.2.3.3, 5 10 2 2\n"
    "1.2.3.4,-1\n"
    "1.2.3.5,-1\n"
    "1.2.3.9,-1\n"
    "1.2.3.8, 1 1\n";

struct Fixture {
  fs::path dir;
  fs::path csv;
};

Fixture make_fixture(const std::string& name) {
  Fixture f;
  f.dir = fresh_dir(name) / "dicom";
  fs::create_directories(f.dir / "sub");
  write_synthetic_dicom(f.dir / "1.2.3.9.dcm", dicom("1.2.3.5", "P5"));
  write_synthetic_dicom(f.dir / "a.dcm", dicom("1.2.3.1", "P1"));
  write_synthetic_dicom(f.dir / "b.dcm", dicom("1.2.3.2", "P1", "AP"));
  write_synthetic_dicom(f.dir / "c.dcm", dicom("1.2.3.3", "P2", "LL"));
  write_synthetic_dicom(f.dir / "d.dcm", dicom("ID_test1", "P3"));
  write_synthetic_dicom(f.dir / "dup.dcm", dicom("1.2.3.2", "P1", "AP"));
  SyntheticDicom skull = dicom("1.2.3.4", "P4");
  skull.body_part = "SKULL";
  write_synthetic_dicom(f.dir / "sub" / "e.dcm", skull);
  std::ofstream(f.dir / "bad.dcm") << "this is not a DICOM file";
  std::ofstream(f.dir / "notes.txt") << "ignored";
  f.csv = f.dir.parent_path() / "labels.csv";
  std::ofstream(f.csv) << kCsv;
  return f;
}

std::vector<std::string> filenames(const DatasetIndex& index, const std::vector<std::size_t>& which) {
  std::vector<std::string> out;
  for (std::size_t i : which) out.push_back(fs::relative(index.images[i].path, index.data_dirs.front()).string());
  return out;
}

TEST(DatasetIndex, MatchesByUidAndReportsEveryProblem) {
  Fixture f = make_fixture("problems");
  auto index = build_dataset_index(f.csv, f.dir, quiet_options());
  ASSERT_TRUE(index) << index.error().message;

  ASSERT_EQ(index->images.size(), 7u);  // every readable .dcm, bad.dcm and notes.txt excluded
  std::map<std::string, std::string> uid_of_file;
  for (const auto& e : index->images) uid_of_file[fs::relative(e.path, f.dir).string()] = e.image_id();
  EXPECT_EQ(uid_of_file["1.2.3.9.dcm"], "1.2.3.5");
  EXPECT_EQ(uid_of_file["a.dcm"], "1.2.3.1");
  EXPECT_EQ(uid_of_file["sub/e.dcm"], "1.2.3.4");

  // Matching by UID: 1.2.3.9.dcm carries the label of 1.2.3.5, not of 1.2.3.9.
  std::set<std::string> matched;
  for (std::size_t i : index->matched_images()) matched.insert(index->images[i].image_id());
  EXPECT_EQ(matched, (std::set<std::string>{"1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4", "1.2.3.5"}));
  const IndexedImage& a = index->images[1];
  ASSERT_EQ(a.image_id(), "1.2.3.1");
  ASSERT_NE(index->label_of(a), nullptr);
  EXPECT_EQ(index->label_of(a)->mask_count(), 2);

  EXPECT_EQ(index->orphan_labels, (std::vector<std::string>{"1.2.3.8", "1.2.3.9"}));
  EXPECT_EQ(filenames(*index, index->unlabeled_images), std::vector<std::string>{"d.dcm"});
  ASSERT_EQ(index->unreadable_files.size(), 1u);
  EXPECT_EQ(index->unreadable_files[0].path.filename(), "bad.dcm");
  EXPECT_FALSE(index->unreadable_files[0].error.empty());
  EXPECT_EQ(index->unreadable_files[0].error.find('\n'), std::string::npos);
  ASSERT_EQ(index->duplicate_images.size(), 1u);
  EXPECT_EQ(index->duplicate_images[0].image_id, "1.2.3.2");
  ASSERT_EQ(index->duplicate_images[0].paths.size(), 2u);
  EXPECT_EQ(index->duplicate_images[0].paths[0].filename(), "b.dcm");
  EXPECT_EQ(index->duplicate_images[0].paths[1].filename(), "dup.dcm");
  EXPECT_EQ(filenames(*index, index->non_frontal), std::vector<std::string>{"c.dcm"});
  EXPECT_EQ(filenames(*index, index->non_chest), std::vector<std::string>{"sub/e.dcm"});
  EXPECT_TRUE(index->size_mismatch.empty());

  const std::string summary = index_summary(*index);
  EXPECT_NE(summary.find("7 DICOMs, 5 matched (2 positive), 1 unlabelled, 2 orphan labels, 1 unreadable"),
            std::string::npos)
      << summary;
  const std::string problems = index_problems_summary(*index);
  EXPECT_NE(problems.find("non-frontal views: 1"), std::string::npos) << problems;
  EXPECT_NE(problems.find("BodyPartExamined SKULL"), std::string::npos) << problems;
  for (const char* patient : {"P1", "P2", "P3", "P4", "P5"}) {
    EXPECT_EQ(problems.find(patient), std::string::npos) << "PatientID leaked: " << patient;
  }
}

TEST(DatasetIndex, SizeMismatchIsReported) {
  fs::path dir = fresh_dir("size") / "dicom";
  fs::create_directories(dir);
  SyntheticDicom big = dicom("9.9", "P9");
  big.rows = 20;
  write_synthetic_dicom(dir / "x.dcm", big);
  auto labels = parse_label_csv("ImageId,EncodedPixels\n9.9,-1\n", "mem.csv", small_masks());
  ASSERT_TRUE(labels) << labels.error().message;
  auto index = build_dataset_index(std::move(labels.value()), small_masks(), dir, quiet_options());
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_EQ(index->size_mismatch, std::vector<std::size_t>{0});
}

TEST(DatasetIndex, MissingFolderAndBadCsvAreErrors) {
  Fixture f = make_fixture("errors");
  auto missing = build_dataset_index(f.csv, f.dir / "nope", quiet_options());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  auto no_csv = build_dataset_index(f.dir / "nope.csv", f.dir, quiet_options());
  ASSERT_FALSE(no_csv);
  EXPECT_EQ(no_csv.error().code, ErrorCode::kNotFound);
}

TEST(DatasetIndex, LabelsOnly) {
  Fixture f = make_fixture("labels_only");
  auto index = build_dataset_index(f.csv, std::nullopt, quiet_options());
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_FALSE(index->has_dicoms());
  EXPECT_TRUE(index->images.empty());
  EXPECT_TRUE(index->orphan_labels.empty());
  EXPECT_EQ(index->labels.images.size(), 7u);
  auto folds = assign_folds(*index, 2, 1);
  ASSERT_TRUE(folds) << folds.error().message;
  EXPECT_EQ(folds->size(), 7u);
  for (const auto& e : *folds) EXPECT_TRUE(e.path.empty());
}

TEST(Classify, FrontalAndChest) {
  DicomMeta m;
  EXPECT_TRUE(is_frontal_view(m));  // absent = unknown, not flagged
  m.view_position = "pa";
  EXPECT_TRUE(is_frontal_view(m));
  m.view_position = "LATERAL";
  EXPECT_FALSE(is_frontal_view(m));
  EXPECT_EQ(non_chest_reason(m), "");
  m.modality = "DX";
  m.body_part = "Chest";
  EXPECT_EQ(non_chest_reason(m), "");
  m.modality = "CT";
  m.body_part = "HEAD";
  EXPECT_EQ(non_chest_reason(m), "BodyPartExamined HEAD, Modality CT");
}

// A larger synthetic cohort for fold properties: patients with 1-3 images, at most one positive
// each, so per-fold positives must differ by at most 1.
struct Cohort {
  fs::path dir, csv;
  std::map<std::string, std::string> patient_of;  // image id -> patient id
  int positives = 0;
};

Cohort make_cohort(const std::string& name, int patients, std::uint32_t seed) {
  Cohort c;
  c.dir = fresh_dir(name) / "dicom";
  fs::create_directories(c.dir);
  std::mt19937 rng(seed);
  std::string csv = "ImageId,EncodedPixels\n";
  int n = 0;
  for (int p = 0; p < patients; ++p) {
    const std::string patient = "PATIENT-" + std::to_string(p);
    const int images = 1 + static_cast<int>(rng() % 3);
    const bool has_positive = rng() % 3 == 0;
    for (int i = 0; i < images; ++i, ++n) {
      const std::string uid = "2.25." + std::to_string(1000 + n);
      write_synthetic_dicom(c.dir / ("img" + std::to_string(n) + ".dcm"), dicom(uid, patient));
      c.patient_of[uid] = patient;
      const bool positive = has_positive && i == 0;
      c.positives += positive;
      csv += uid + (positive ? ",3 4\n" : ",-1\n");
    }
  }
  c.csv = c.dir.parent_path() / "labels.csv";
  std::ofstream(c.csv) << csv;
  return c;
}

TEST(Folds, GroupStratifiedDeterministicAndSeeded) {
  Cohort c = make_cohort("cohort", /*patients=*/40, /*seed=*/7);
  auto index = build_dataset_index(c.csv, c.dir, quiet_options());
  ASSERT_TRUE(index) << index.error().message;
  const int k = 5;
  auto folds = assign_folds(*index, k, 42);
  ASSERT_TRUE(folds) << folds.error().message;
  ASSERT_EQ(folds->size(), c.patient_of.size());

  std::map<std::string, std::set<int>> folds_of_patient;
  std::map<std::string, std::set<std::string>> groups_of_patient;
  std::vector<int> pos(k, 0), total(k, 0);
  std::set<std::string> seen;
  for (const auto& e : *folds) {
    ASSERT_GE(e.fold, 0);
    ASSERT_LT(e.fold, k);
    EXPECT_TRUE(seen.insert(e.image_id).second) << "image twice: " << e.image_id;
    const std::string& patient = c.patient_of.at(e.image_id);
    folds_of_patient[patient].insert(e.fold);
    groups_of_patient[patient].insert(e.group);
    pos[e.fold] += e.positive;
    total[e.fold] += 1;
    EXPECT_EQ(e.group.size(), 12u);
    EXPECT_EQ(e.group, group_key(patient));
  }
  for (const auto& [patient, fs_] : folds_of_patient) EXPECT_EQ(fs_.size(), 1u) << patient << " spans folds";
  for (const auto& [patient, gs] : groups_of_patient) EXPECT_EQ(gs.size(), 1u);
  EXPECT_EQ(std::accumulate(pos.begin(), pos.end(), 0), c.positives);
  EXPECT_LE(*std::max_element(pos.begin(), pos.end()) - *std::min_element(pos.begin(), pos.end()), 1);
  // Totals balanced to within the largest group (3 images).
  EXPECT_LE(*std::max_element(total.begin(), total.end()) - *std::min_element(total.begin(), total.end()), 3);

  auto again = assign_folds(*index, k, 42);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *folds);
  auto other = assign_folds(*index, k, 43);
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *folds);

  // folds.csv: round trip, and no PatientID anywhere in it.
  const fs::path out = c.dir.parent_path() / "folds.csv";
  ASSERT_TRUE(write_folds_csv(out, *folds));
  auto text = read_file(out);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->rfind("ImageId,fold,positive,mask_count,path,group\n", 0), 0u);
  EXPECT_EQ(text->find("PATIENT-"), std::string::npos);
  auto back = read_folds_csv(out);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, *folds);
}

TEST(Folds, RejectsBadK) {
  Cohort c = make_cohort("few", /*patients=*/3, /*seed=*/1);
  auto index = build_dataset_index(c.csv, c.dir, quiet_options());
  ASSERT_TRUE(index) << index.error().message;
  auto one = assign_folds(*index, 1, 0);
  ASSERT_FALSE(one);
  EXPECT_EQ(one.error().code, ErrorCode::kInvalidArgument);
  auto too_many = assign_folds(*index, 4, 0);
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message.find("3 patient groups"), std::string::npos) << too_many.error().message;
}

TEST(FoldsCsv, QuotesAndErrors) {
  std::vector<FoldEntry> entries = {{"1.2", 0, true, 2, "/data/a,b \"x\".dcm", "abcdef012345"},
                                    {"1.3", 1, false, 0, "", "000000000000"}};
  auto back = parse_folds_csv(format_folds_csv(entries), "mem");
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, entries);

  auto bad_fold = parse_folds_csv("ImageId,fold,positive,mask_count,path,group\n1.2,0,1,1,,g\n1.3,x,0,0,,g\n", "f.csv");
  ASSERT_FALSE(bad_fold);
  EXPECT_EQ(bad_fold.error().message, "f.csv:3: field fold: expected a non-negative integer, got 'x'");
  auto bad_header = parse_folds_csv("ImageId,fold\n", "f.csv");
  ASSERT_FALSE(bad_header);
  EXPECT_NE(bad_header.error().message.find("positive"), std::string::npos);
  auto inconsistent = parse_folds_csv("ImageId,fold,positive,mask_count\n1.2,0,1,0\n", "f.csv");
  ASSERT_FALSE(inconsistent);
  EXPECT_NE(inconsistent.error().message.find("f.csv:2: field mask_count"), std::string::npos);
  // CRLF and a BOM are tolerated; path/group columns are optional.
  auto crlf = parse_folds_csv("\xEF\xBB\xBFImageId,fold,positive,mask_count\r\n1.2,3,0,0\r\n", "f.csv");
  ASSERT_TRUE(crlf) << crlf.error().message;
  ASSERT_EQ(crlf->size(), 1u);
  EXPECT_EQ((*crlf)[0].fold, 3);
}

TEST(DatasetIndex, MixesDicomAndPlainImageFoldersByStem) {
  Fixture f = make_fixture("mixed");
  const fs::path jpg_dir = f.dir.parent_path() / "jpg";
  fs::create_directories(jpg_dir);
  // 1.2.3.8 is an orphan label in the DICOM fixture; here it arrives as a JPEG export.
  cv::Mat grey(16, 16, CV_8UC1, cv::Scalar(90));
  ASSERT_TRUE(cv::imwrite((jpg_dir / "1.2.3.8.jpg").string(), grey));
  Image8 png(16, 16);
  ASSERT_TRUE(write_png(jpg_dir / "unlabelled-export.png", png));
  cv::Mat big(20, 16, CV_8UC1, cv::Scalar(10));
  ASSERT_TRUE(cv::imwrite((jpg_dir / "1.2.3.1.jpeg").string(), big));  // same id as a.dcm: a duplicate
  std::ofstream(jpg_dir / "broken.jpg") << "not a jpeg";

  auto index = build_dataset_index(f.csv, std::vector<fs::path>{f.dir, jpg_dir}, quiet_options());
  ASSERT_TRUE(index) << index.error().message;
  EXPECT_EQ(index->data_dirs.size(), 2u);
  const IndexedImage* jpeg = nullptr;
  for (const auto& image : index->images) {
    if (image.image_id() == "1.2.3.8") jpeg = &image;
  }
  ASSERT_NE(jpeg, nullptr);
  EXPECT_FALSE(jpeg->has_dicom_header);
  EXPECT_EQ(jpeg->meta.rows, 16);
  ASSERT_TRUE(jpeg->label_index.has_value());
  EXPECT_TRUE(index->label_of(*jpeg)->positive());
  EXPECT_TRUE(non_chest_reason(jpeg->meta).empty());  // unknown tags are not held against it
  // The orphan is no longer one; the unlabelled PNG is reported as unlabelled, not as an error.
  EXPECT_EQ(std::count(index->orphan_labels.begin(), index->orphan_labels.end(), "1.2.3.8"), 0);
  bool png_unlabelled = false;
  for (std::size_t i : index->unlabeled_images) png_unlabelled |= index->images[i].image_id() == "unlabelled-export";
  EXPECT_TRUE(png_unlabelled);
  // The DICOM folder comes first, so a.dcm keeps 1.2.3.1 and the JPEG is the duplicate.
  bool dup_found = false;
  for (const auto& d : index->duplicate_images) {
    if (d.image_id != "1.2.3.1") continue;
    dup_found = true;
    ASSERT_EQ(d.paths.size(), 2u);
    EXPECT_EQ(d.paths[0].filename(), "a.dcm");
  }
  EXPECT_TRUE(dup_found);
  bool broken_reported = false;
  for (const auto& u : index->unreadable_files) {
    if (u.path.filename() == "broken.jpg") {
      broken_reported = true;
      EXPECT_NE(u.error.find("broken.jpg"), std::string::npos);
    }
  }
  EXPECT_TRUE(broken_reported);
  EXPECT_NE(index_summary(*index).find("PNG/JPEG images"), std::string::npos);

  // Folds cover the JPEG like any other matched image.
  auto folds = assign_folds(*index, 2, 1);
  ASSERT_TRUE(folds) << folds.error().message;
  EXPECT_TRUE(std::any_of(folds->begin(), folds->end(), [](const FoldEntry& e) { return e.image_id == "1.2.3.8"; }));
}

TEST(Folds, GroupKeyIsStableAndHidesId) {
  EXPECT_EQ(group_key("abc"), group_key("abc"));
  EXPECT_NE(group_key("abc"), group_key("abd"));
  EXPECT_EQ(group_key("abc").size(), 12u);
  EXPECT_EQ(group_key("abc").find("abc"), std::string::npos);
}

}  // namespace
}  // namespace pneumo
