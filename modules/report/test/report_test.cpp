// Stats on a hand-made CSV and hand-made DICOMs; every expected number is worked out by hand in
// the comments below.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pneumo/core/files.hpp"
#include "pneumo/report/plot.hpp"
#include "pneumo/report/stats.hpp"
#include "synthetic_dicom.hpp"

namespace fs = std::filesystem;
using pneumo::testing::SyntheticDicom;
using pneumo::testing::write_synthetic_dicom;

namespace pneumo {
namespace {

// 16x16 masks, relative RLE (gap, length), column-major pixel index.
//   1.1: "0 4" = {0..3}, "2 4" = {2..5}; union {0..5} = 6 px; its repeated "0 4" row is a duplicate
//   1.2: negative
//   1.3: "10 2 3 3" = {10,11} then gap 3 -> {15,16,17}: 5 px
//   1.4: "0 1" {0}, "5 1" {5}, "7 2" {7,8}: 3 masks, union 4 px
//   1.5, 1.6: negative, no DICOM (orphans)
// rows 10, duplicate_rows 1, images 6, positive 3, negative 3, masks 2+1+3 = 6,
// multi-mask 2 (1.1, 1.4), max 3; per image: one mask 1, two 1, three+ 1.
// Areas 6, 5, 4: min 4, median 5, mean 5, max 6.
const char* kCsv =
    "ImageId, EncodedPixels\n"
    "1.1, 0 4\n"
    "1.1, 2 4\n"
    "1.1, 0 4\n"
    "1.2, -1\n"
    "1.3, 10 2 3 3\n"
    "1.4, 0 1\n"
    "1.4, 5 1\n"
    "1.4, 7 2\n"
    "1.5, -1\n"
    "1.6, -1\n";

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("pneumo_report_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

SyntheticDicom dcm(std::string uid, std::string sex, std::string age, std::string view, std::string modality,
                   std::string body, std::optional<double> spacing, int size = 16) {
  SyntheticDicom d;
  d.sop_instance_uid = std::move(uid);
  d.patient_id = "PID-" + d.sop_instance_uid;
  d.sex = std::move(sex);
  d.age = std::move(age);
  d.view_position = std::move(view);
  d.modality = std::move(modality);
  d.body_part = std::move(body);
  d.pixel_spacing_mm = spacing;
  d.rows = d.cols = size;
  return d;
}

// DICOMs (file names are not the UIDs):
//   f1: 1.1  M 038Y PA CR CHEST 0.2 mm      -> cm2 = 6 * 0.2 * 0.2 / 100 = 0.0024
//   f2: 1.2  F 070Y AP DX CHEST 0.5 mm
//   f3: 1.3  F  --  LL CR CHEST no spacing  -> no cm2; non-frontal
//   f4: 1.4  M 004Y PA CR  --   0.1 mm, 32x32 (mask is 16x16: a mask pixel is 0.2 mm)
//            -> cm2 = 4 * 0.2 * 0.2 / 100 = 0.0016; size mismatch
//   f5: ID_x O 006M PA CT HEAD 0.2 mm      -> unlabelled, non-chest
//   bad.dcm: unreadable
// files 5, matched 4, matched positive 3 (1.1, 1.3, 1.4)
// sex M 2 (2 positive), F 2 (1), O 1 (0); age <1:1 1-4:1 25-44:1 65+:1 unknown:1, others 0
// view PA 3, AP 1, LL 1; modality CR 3, DX 1, CT 1; body CHEST 3, (missing) 1, HEAD 1
// cm2: {0.0024, 0.0016}: min 0.0016, median = mean = 0.002, max 0.0024
DatasetIndex make_index(const std::string& name) {
  const fs::path root = fresh_dir(name), dir = root / "dicom";
  fs::create_directories(dir);
  write_synthetic_dicom(dir / "f1.dcm", dcm("1.1", "M", "038Y", "PA", "CR", "CHEST", 0.2));
  write_synthetic_dicom(dir / "f2.dcm", dcm("1.2", "F", "070Y", "AP", "DX", "CHEST", 0.5));
  write_synthetic_dicom(dir / "f3.dcm", dcm("1.3", "F", "", "LL", "CR", "CHEST", std::nullopt));
  write_synthetic_dicom(dir / "f4.dcm", dcm("1.4", "M", "004Y", "PA", "CR", "", 0.1, 32));
  write_synthetic_dicom(dir / "f5.dcm", dcm("ID_x", "O", "006M", "PA", "CT", "HEAD", 0.2));
  std::ofstream(dir / "bad.dcm") << "garbage";
  std::ofstream(root / "labels.csv") << kCsv;
  IndexOptions opt;
  opt.threads = 2;
  opt.progress = false;
  opt.labels.rows = opt.labels.cols = 16;
  auto index = build_dataset_index(root / "labels.csv", dir, opt);
  if (!index) throw std::runtime_error(index.error().message);
  return std::move(index.value());
}

StatsOptions quiet() {
  StatsOptions o;
  o.threads = 2;
  o.progress = false;
  return o;
}

TEST(Stats, HandMadeDatasetEveryNumber) {
  DatasetIndex index = make_index("numbers");
  auto stats = compute_stats(index, quiet());
  ASSERT_TRUE(stats) << stats.error().message;
  const DatasetStats& s = *stats;
  EXPECT_EQ(s.rows, 10);
  EXPECT_EQ(s.duplicate_rows, 1);
  EXPECT_EQ(s.images, 6);
  EXPECT_EQ(s.positive_images, 3);
  EXPECT_EQ(s.negative_images, 3);
  EXPECT_EQ(s.masks, 6);
  EXPECT_EQ(s.multi_mask_images, 2);
  EXPECT_EQ(s.max_masks_per_image, 3);
  ASSERT_EQ(s.masks_per_image.size(), 3u);
  EXPECT_EQ(s.masks_per_image[0].images, 1);
  EXPECT_EQ(s.masks_per_image[1].images, 1);
  EXPECT_EQ(s.masks_per_image[2].images, 1);
  EXPECT_EQ(s.mask_areas_px, (std::vector<double>{6, 5, 4}));
  ASSERT_TRUE(s.mask_area_px);
  EXPECT_EQ(s.mask_area_px->count, 3);
  EXPECT_DOUBLE_EQ(s.mask_area_px->min, 4);
  EXPECT_DOUBLE_EQ(s.mask_area_px->median, 5);
  EXPECT_DOUBLE_EQ(s.mask_area_px->mean, 5);
  EXPECT_DOUBLE_EQ(s.mask_area_px->max, 6);
  ASSERT_TRUE(s.mask_area_cm2);
  EXPECT_EQ(s.mask_area_cm2->count, 2);
  EXPECT_NEAR(s.mask_area_cm2->min, 0.0016, 1e-12);
  EXPECT_NEAR(s.mask_area_cm2->median, 0.0020, 1e-12);
  EXPECT_NEAR(s.mask_area_cm2->max, 0.0024, 1e-12);

  EXPECT_TRUE(s.has_dicoms);
  EXPECT_EQ(s.dicom_files, 5);
  EXPECT_EQ(s.matched_images, 4);
  EXPECT_EQ(s.matched_positive, 3);
  auto count = [](const std::vector<CategoryCount>& v, const std::string& name) -> std::pair<long long, long long> {
    for (const auto& c : v) {
      if (c.name == name) return {c.images, c.positive};
    }
    return {-1, -1};
  };
  EXPECT_EQ(count(s.sex, "M"), std::make_pair(2LL, 2LL));
  EXPECT_EQ(count(s.sex, "F"), std::make_pair(2LL, 1LL));
  EXPECT_EQ(count(s.sex, "O"), std::make_pair(1LL, 0LL));
  ASSERT_EQ(s.age_groups.size(), 8u);  // all CDC groups plus unknown, in order
  const std::vector<std::pair<std::string, long long>> ages = {{"<1", 1},  {"1-4", 1},   {"5-14", 0}, {"15-24", 0},
                                                               {"25-44", 1}, {"45-64", 0}, {"65+", 1},  {"unknown", 1}};
  for (std::size_t i = 0; i < ages.size(); ++i) {
    EXPECT_EQ(s.age_groups[i].name, ages[i].first);
    EXPECT_EQ(s.age_groups[i].images, ages[i].second) << ages[i].first;
  }
  EXPECT_EQ(count(s.view_position, "PA").first, 3);
  EXPECT_EQ(count(s.view_position, "AP").first, 1);
  EXPECT_EQ(count(s.view_position, "LL"), std::make_pair(1LL, 1LL));
  EXPECT_EQ(count(s.modality, "CR").first, 3);
  EXPECT_EQ(count(s.modality, "DX").first, 1);
  EXPECT_EQ(count(s.modality, "CT").first, 1);
  EXPECT_EQ(count(s.body_part, "CHEST").first, 3);
  EXPECT_EQ(count(s.body_part, "(missing)"), std::make_pair(1LL, 1LL));
  EXPECT_EQ(count(s.body_part, "HEAD").first, 1);

  ASSERT_EQ(s.orphan_labels.size(), 2u);
  EXPECT_EQ(s.orphan_labels[0].id, "1.5");
  EXPECT_EQ(s.orphan_labels[1].id, "1.6");
  ASSERT_EQ(s.unlabeled_images.size(), 1u);
  EXPECT_EQ(s.unlabeled_images[0].id, "ID_x");
  ASSERT_EQ(s.non_frontal_views.size(), 1u);
  EXPECT_EQ(s.non_frontal_views[0].id, "1.3");
  ASSERT_EQ(s.non_chest.size(), 1u);
  EXPECT_EQ(s.non_chest[0].detail, "BodyPartExamined HEAD, Modality CT");
  EXPECT_EQ(s.unreadable_files.size(), 1u);
  EXPECT_TRUE(s.duplicate_images.empty());
  ASSERT_EQ(s.size_mismatch.size(), 1u);
  EXPECT_EQ(s.size_mismatch[0].id, "1.4");
}

TEST(Stats, JsonAndReportFiles) {
  DatasetIndex index = make_index("files");
  auto stats = compute_stats(index, quiet());
  ASSERT_TRUE(stats) << stats.error().message;
  const fs::path out = index.data_dirs.front().parent_path() / "report";
  auto files = write_stats_report(out, *stats);
  ASSERT_TRUE(files) << files.error().message;

  auto text = read_file(out / "stats.json");
  ASSERT_TRUE(text);
  auto j = nlohmann::json::parse(*text);
  EXPECT_EQ(j["rows"], 10);
  EXPECT_EQ(j["duplicate_rows"], 1);
  EXPECT_EQ(j["images"], 6);
  EXPECT_EQ(j["positive_images"], 3);
  EXPECT_EQ(j["negative_images"], 3);
  EXPECT_EQ(j["masks"], 6);
  EXPECT_EQ(j["multi_mask_images"], 2);
  EXPECT_EQ(j["max_masks_per_image"], 3);
  EXPECT_EQ(j["mask_area_px"]["median"], 5.0);
  EXPECT_NEAR(j["mask_area_cm2"]["mean"].get<double>(), 0.002, 1e-12);
  EXPECT_EQ(j["sex"]["M"], 2);
  EXPECT_EQ(j["age_groups"]["65+"], 1);
  EXPECT_EQ(j["view_position"]["LL"], 1);
  EXPECT_EQ(j["modality"]["CT"], 1);
  EXPECT_EQ(j["body_part"]["HEAD"], 1);
  EXPECT_EQ(j["positive_by"]["sex"]["F"], 1);
  EXPECT_EQ(j["problems"]["orphan_labels"]["count"], 2);
  EXPECT_EQ(j["problems"]["orphan_labels"]["items"][0], "1.5");
  EXPECT_EQ(j["problems"]["unlabeled_images"]["count"], 1);
  EXPECT_EQ(j["problems"]["non_frontal_views"]["count"], 1);
  EXPECT_EQ(j["problems"]["non_chest"]["count"], 1);
  EXPECT_EQ(j["problems"]["unreadable_files"]["count"], 1);
  EXPECT_EQ(j["problems"]["duplicate_images"]["count"], 0);
  EXPECT_EQ(text->find("PID-"), std::string::npos) << "PatientID leaked into stats.json";

  auto md = read_file(out / "report.md");
  ASSERT_TRUE(md);
  EXPECT_NE(md->find("CDC (NCHS) standard age groups in years: <1, 1-4, 5-14, 15-24, 25-44, 45-64, 65+"),
            std::string::npos);
  EXPECT_NE(md->find("| positive images | 3 (50.0%) |"), std::string::npos) << *md;
  EXPECT_EQ(md->find("PID-"), std::string::npos);
  if (find_gnuplot()) {
    EXPECT_TRUE(files->warnings.empty()) << files->warnings.front();
    for (const char* png : {"class_balance.png", "masks_per_image.png", "mask_area_px.png", "mask_area_cm2.png",
                            "sex.png", "age_groups.png", "view_position.png", "modality.png", "body_part.png"}) {
      EXPECT_TRUE(read_png_gray(out / "plots" / png)) << png;
      EXPECT_NE(md->find(std::string("(plots/") + png + ")"), std::string::npos) << png;
    }
  }
}

TEST(Stats, WithoutGnuplotTheReportSaysSo) {
  DatasetIndex index = make_index("no_gnuplot");
  auto stats = compute_stats(index, quiet());
  ASSERT_TRUE(stats) << stats.error().message;
  const fs::path out = index.data_dirs.front().parent_path() / "report";
  ::setenv("PNEUMO_GNUPLOT", "/nonexistent/gnuplot", 1);
  auto files = write_stats_report(out, *stats);
  ::unsetenv("PNEUMO_GNUPLOT");
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files->warnings.size(), 1u);
  EXPECT_TRUE(files->plots.empty());
  EXPECT_FALSE(fs::exists(out / "plots"));
  auto md = read_file(out / "report.md");
  ASSERT_TRUE(md);
  EXPECT_NE(md->find("gnuplot not found"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "stats.json"));
}

TEST(Stats, CsvOnlyHasNoDicomSection) {
  const fs::path root = fresh_dir("csv_only");
  std::ofstream(root / "labels.csv") << kCsv;
  IndexOptions opt;
  opt.progress = false;
  opt.labels.rows = opt.labels.cols = 16;
  auto index = build_dataset_index(root / "labels.csv", std::nullopt, opt);
  ASSERT_TRUE(index) << index.error().message;
  auto stats = compute_stats(*index, quiet());
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_FALSE(stats->has_dicoms);
  EXPECT_FALSE(stats->mask_area_cm2);
  EXPECT_EQ(stats->positive_images, 3);
  auto j = nlohmann::json::parse(stats_to_json(*stats));
  EXPECT_FALSE(j.contains("sex"));
  EXPECT_FALSE(j.contains("problems"));
  EXPECT_FALSE(j.contains("mask_area_cm2"));
  EXPECT_EQ(j["masks"], 6);
}

TEST(Stats, BadRleIsAnErrorNamingTheLine) {
  // validate=false lets the table load; compute_stats must then report the bad run itself.
  LabelCsvOptions lo;
  lo.rows = lo.cols = 4;
  lo.validate = false;
  auto labels = parse_label_csv("ImageId,EncodedPixels\n9.1,-1\n9.2,10 100\n", "bad.csv", lo);
  ASSERT_TRUE(labels) << labels.error().message;
  IndexOptions opt;
  opt.progress = false;
  opt.labels = lo;
  auto index = build_dataset_index(std::move(labels.value()), lo, std::nullopt, opt);
  ASSERT_TRUE(index);
  auto stats = compute_stats(*index, quiet());
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, ErrorCode::kBadInput);
  EXPECT_NE(stats.error().message.find(":3:"), std::string::npos) << stats.error().message;
}

TEST(Stats, SummaryAndAgeGroups) {
  Summary even = summarize({4, 1, 3, 2});
  EXPECT_DOUBLE_EQ(even.median, 2.5);
  EXPECT_DOUBLE_EQ(even.mean, 2.5);
  EXPECT_EQ(cdc_age_group(0.5), "<1");
  EXPECT_EQ(cdc_age_group(1), "1-4");
  EXPECT_EQ(cdc_age_group(4.9), "1-4");
  EXPECT_EQ(cdc_age_group(5), "5-14");
  EXPECT_EQ(cdc_age_group(24), "15-24");
  EXPECT_EQ(cdc_age_group(44), "25-44");
  EXPECT_EQ(cdc_age_group(64), "45-64");
  EXPECT_EQ(cdc_age_group(65), "65+");
  EXPECT_EQ(cdc_age_group(std::nullopt), "unknown");
}

}  // namespace
}  // namespace pneumo
