// The real SIIM label file, the CSV dialects found in the wild, and the orientation check against
// the JPEG masks a public Kaggle solution exported. Skips when ../shared/data is absent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

const fs::path kSiim = fs::path(PNEUMO_SHARED_DATA) / "siim";

#define SKIP_WITHOUT(path)                                                                    \
  if (!fs::exists(path)) GTEST_SKIP() << "real SIIM data not found at " << (path).string() \
                                      << "; set -DPNEUMO_SHARED_DATA to run this test"

// --- Oracle: a plain, separate reading of the file with iostreams. ---------------------------
struct OracleRow {
  std::string id;
  std::string rle;  // whitespace-normalised; "-1" for negatives
};

std::string normalise(const std::string& s) {
  std::istringstream in(s);
  std::string out, tok;
  while (in >> tok) out += (out.empty() ? "" : " ") + tok;
  return out.empty() ? "-1" : out;
}

std::vector<OracleRow> oracle_rows(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<OracleRow> rows;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (first && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto comma = line.find(',');
    std::string id = normalise(line.substr(0, comma));
    std::string rle = normalise(line.substr(comma + 1));
    const bool header = first && rle.find_first_of("0123456789") == std::string::npos && rle != "-1";
    first = false;
    if (!header) rows.push_back({id, rle});
  }
  return rows;
}

long long sum_of_lengths(const std::string& rle) {
  if (rle == "-1") return 0;
  std::istringstream in(rle);
  long long a, b, total = 0;
  while (in >> a >> b) total += b;
  return total;
}

TEST(RealData, TrainRleCountsMatchAnIndependentReading) {
  const fs::path csv = kSiim / "train-rle.csv";
  SKIP_WITHOUT(csv);
  auto table = read_label_csv(csv, {});
  ASSERT_TRUE(table.ok()) << table.error().message;

  const auto rows = oracle_rows(csv);
  std::set<std::string> ids, positive_ids;
  std::set<std::pair<std::string, std::string>> distinct_rows;
  long long distinct_mask_rows = 0;
  for (const auto& r : rows) {
    ids.insert(r.id);
    if (r.rle != "-1") positive_ids.insert(r.id);
    if (distinct_rows.insert({r.id, r.rle}).second && r.rle != "-1") ++distinct_mask_rows;
  }
  EXPECT_TRUE(table->had_header);
  EXPECT_EQ(table->rows, static_cast<long long>(rows.size()));
  EXPECT_EQ(table->images.size(), ids.size());
  EXPECT_EQ(table->positive_images(), static_cast<long long>(positive_ids.size()));
  EXPECT_EQ(table->negative_images(), static_cast<long long>(ids.size() - positive_ids.size()));
  EXPECT_EQ(table->duplicate_rows, static_cast<long long>(rows.size() - distinct_rows.size()));
  EXPECT_EQ(table->mask_rows(), distinct_mask_rows);
}

TEST(RealData, EveryTrainRowDecodesAndReencodes) {
  const fs::path csv = kSiim / "train-rle.csv";
  SKIP_WITHOUT(csv);
  LabelCsvOptions options;  // 1024x1024, relative: the SIIM form
  auto table = read_label_csv(csv, options);
  ASSERT_TRUE(table.ok()) << table.error().message;

  std::map<std::string, std::vector<std::string>> oracle;  // id -> normalised positive rows
  for (const auto& r : oracle_rows(csv))
    if (r.rle != "-1") oracle[r.id].push_back(r.rle);

  long long checked = 0;
  Mask single(1024, 1024);
  for (const ImageLabel& label : table->images) {
    SCOPED_TRACE("line " + std::to_string(label.first_line));
    if (!label.positive()) {
      EXPECT_EQ(oracle.count(label.image_id), 0u);
      continue;
    }
    auto unioned = decode_label_mask(label, options, table->source);
    ASSERT_TRUE(unioned.ok()) << unioned.error().message;
    const std::string encoded = encode_rle(*unioned, RleFormat::kRelative);
    const auto& expected_rows = oracle.at(label.image_id);
    if (expected_rows.size() == 1) {
      // One row: the re-encoding is the original text, and its pixel count the sum of lengths.
      EXPECT_EQ(encoded, expected_rows[0]);
      EXPECT_EQ(count_nonzero(*unioned), sum_of_lengths(expected_rows[0]));
    } else {
      // Several rows: each row is inside the union, and the union round-trips.
      long long max_row_pixels = 0;
      for (const std::string& row : expected_rows) {
        std::fill(single.px.begin(), single.px.end(), 0);
        ASSERT_TRUE(decode_rle_into(row, single, RleFormat::kRelative).ok());
        EXPECT_EQ(count_nonzero(single), sum_of_lengths(row));
        max_row_pixels = std::max(max_row_pixels, sum_of_lengths(row));
        Mask probe = *unioned;  // adding a row that is inside the union changes nothing
        ASSERT_TRUE(decode_rle_into(row, probe, RleFormat::kRelative).ok());
        EXPECT_TRUE(probe == *unioned) << "a row has pixels outside the union";
      }
      EXPECT_GE(count_nonzero(*unioned), max_row_pixels);
      auto again = decode_rle(encoded, 1024, 1024, RleFormat::kRelative);
      ASSERT_TRUE(again.ok()) << again.error().message;
      EXPECT_TRUE(*again == *unioned);
    }
    // The absolute dialect carries the same mask (every 4th image keeps the test fast).
    if (checked++ % 4 != 0) continue;
    auto absolute = decode_rle(encode_rle(*unioned, RleFormat::kAbsolute), 1024, 1024, RleFormat::kAbsolute);
    ASSERT_TRUE(absolute.ok());
    EXPECT_TRUE(*absolute == *unioned);
  }
  EXPECT_EQ(checked, static_cast<long long>(oracle.size()));
}

Mask transposed(const Mask& m) {
  Mask t(m.cols, m.rows);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) t.at(c, r) = m.at(r, c);
  return t;
}

long long differing(const Mask& a, const Mask& b) {
  long long n = 0;
  for (std::size_t i = 0; i < a.px.size(); ++i) n += (a.px[i] != 0) != (b.px[i] != 0);
  return n;
}

TEST(RealData, DecodedMasksMatchTheKaggleJpegMasksInOrientation) {
  const fs::path jpg_dir = kSiim / "jpg";
  const fs::path csv = kSiim / "train-rle.csv";
  SKIP_WITHOUT(jpg_dir);
  SKIP_WITHOUT(csv);
  auto table = read_label_csv(csv, {});
  ASSERT_TRUE(table.ok()) << table.error().message;

  const std::string prefix = "zdaiot_mask_";
  int compared = 0, positives = 0;
  for (const auto& entry : fs::directory_iterator(jpg_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string id = entry.path().stem().string().substr(prefix.size());
    SCOPED_TRACE(name);
    const ImageLabel* label = table->find(id);
    ASSERT_NE(label, nullptr) << "mask file without a label row";
    auto decoded = decode_label_mask(*label, {}, table->source);
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;

    cv::Mat jpeg = cv::imread(entry.path().string(), cv::IMREAD_GRAYSCALE);
    ASSERT_FALSE(jpeg.empty());
    ASSERT_EQ(jpeg.rows, 1024);
    ASSERT_EQ(jpeg.cols, 1024);
    Mask reference(1024, 1024);
    for (int r = 0; r < 1024; ++r)
      for (int c = 0; c < 1024; ++c) reference.at(r, c) = jpeg.at<std::uint8_t>(r, c) >= 128 ? 1 : 0;

    const double total = 1024.0 * 1024.0;
    const long long diff = differing(*decoded, reference);
    EXPECT_LT(diff / total, 0.005) << diff << " pixels differ";
    if (label->positive()) {
      ++positives;
      const long long area = count_nonzero(*decoded);
      const long long diff_t = differing(transposed(*decoded), reference);
      // The transposed reading must be clearly worse: most of the mask lands elsewhere.
      EXPECT_GT(diff_t, 4 * diff + area / 2) << "normal " << diff << ", transposed " << diff_t << ", area " << area;
    } else {
      EXPECT_EQ(count_nonzero(reference), diff);  // every reference pixel is a JPEG artefact
    }
    ++compared;
  }
  EXPECT_GE(compared, 1);
  EXPECT_GE(positives, 1);
}

TEST(RealData, CsvVariantsParseToTheSameMasksAsTrainRle) {
  const fs::path dir = kSiim / "csv-variants";
  const fs::path csv = kSiim / "train-rle.csv";
  SKIP_WITHOUT(dir);
  SKIP_WITHOUT(csv);
  auto train = read_label_csv(csv, {});
  ASSERT_TRUE(train.ok()) << train.error().message;

  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  ASSERT_FALSE(files.empty());
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.filename().string());
    auto table = read_label_csv(file, {});
    ASSERT_TRUE(table.ok()) << table.error().message;
    const auto rows = oracle_rows(file);
    EXPECT_EQ(table->rows, static_cast<long long>(rows.size()));
    ASSERT_FALSE(table->images.empty());
    for (const ImageLabel& label : table->images) {
      const ImageLabel* reference = train->find(label.image_id);
      ASSERT_NE(reference, nullptr) << "line " << label.first_line << ": ImageId not in train-rle.csv";
      auto mine = decode_label_mask(label, {}, table->source);
      auto theirs = decode_label_mask(*reference, {}, train->source);
      ASSERT_TRUE(mine.ok()) << mine.error().message;
      ASSERT_TRUE(theirs.ok());
      EXPECT_TRUE(*mine == *theirs) << "line " << label.first_line;
      EXPECT_EQ(label.positive(), reference->positive());
    }
  }
}

}  // namespace
}  // namespace pneumo
