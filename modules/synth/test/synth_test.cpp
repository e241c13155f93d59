// The synthetic dataset: determinism across runs and thread counts, the exact SIIM CSV layout
// (checked with an independent RLE decoder and with pneumo's label reader), masks that are single
// regions inside the lungs, a pixel signal a model can learn, and DICOM tags read back by DCMTK.
#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/mask_rle/label_csv.hpp"
#include "pneumo/synth/synth.hpp"

namespace fs = std::filesystem;
using namespace pneumo;

namespace {

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::path(PNEUMO_BINARY_DIR) / "test-tmp" / "synth" / name;
  fs::remove_all(dir);
  return dir;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Independent oracle for SIIM's relative RLE: column-major, (gap, length) pairs.
Mask decode_relative(const std::string& rle, int rows, int cols) {
  Mask m(rows, cols);
  std::istringstream in(rle);
  long long pos = 0, gap = 0, len = 0;
  while (in >> gap >> len) {
    pos += gap;
    for (long long k = 0; k < len; ++k, ++pos) {
      long long col = pos / rows, row = pos % rows;
      m.at(static_cast<int>(row), static_cast<int>(col)) = 1;
    }
  }
  return m;
}

int count_components(const Mask& m) {
  std::vector<int> seen(m.px.size(), 0);
  int components = 0;
  for (std::size_t s = 0; s < m.px.size(); ++s) {
    if (!m.px[s] || seen[s]) continue;
    ++components;
    std::vector<int> stack{static_cast<int>(s)};
    seen[s] = 1;
    while (!stack.empty()) {
      int p = stack.back();
      stack.pop_back();
      int r = p / m.cols, c = p % m.cols;
      const int nb[4][2] = {{r - 1, c}, {r + 1, c}, {r, c - 1}, {r, c + 1}};
      for (auto& q : nb) {
        if (q[0] < 0 || q[1] < 0 || q[0] >= m.rows || q[1] >= m.cols) continue;
        int j = q[0] * m.cols + q[1];
        if (m.px[j] && !seen[j]) {
          seen[j] = 1;
          stack.push_back(j);
        }
      }
    }
  }
  return components;
}

// Pixels within Chebyshev distance `radius` of the mask.
Mask grow(const Mask& m, int radius) {
  Mask out(m.rows, m.cols);
  for (int r = 0; r < m.rows; ++r)
    for (int c = 0; c < m.cols; ++c) {
      if (!m.at(r, c)) continue;
      for (int dr = -radius; dr <= radius; ++dr)
        for (int dc = -radius; dc <= radius; ++dc) {
          int rr = r + dr, cc = c + dc;
          if (rr >= 0 && cc >= 0 && rr < m.rows && cc < m.cols) out.at(rr, cc) = 1;
        }
    }
  return out;
}

std::string dcm_string(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  if (item.findAndGetOFStringArray(tag, v).bad()) return "<missing>";
  return v.c_str();
}

SynthOptions small_options(int count, std::uint64_t seed, int size = 128) {
  SynthOptions o;
  o.count = count;
  o.seed = seed;
  o.size = size;
  o.threads = 1;
  return o;
}

}  // namespace

TEST(Synth, SameSeedGivesIdenticalBytesWhateverTheThreadCount) {
  SynthOptions one = small_options(/*count=*/12, /*seed=*/5);
  SynthOptions two = one;
  two.threads = 2;
  const fs::path a = temp_dir("det_a"), b = temp_dir("det_b"), c = temp_dir("det_c");
  auto sa = generate_synthetic_dataset(a, one);
  auto sb = generate_synthetic_dataset(b, two);
  ASSERT_TRUE(sa.ok()) << sa.error().message;
  ASSERT_TRUE(sb.ok()) << sb.error().message;
  EXPECT_EQ(*read_file(a / "train-rle.csv"), *read_file(b / "train-rle.csv"));
  auto fa = list_files(a / "dicom", {".dcm"}).value();
  auto fb = list_files(b / "dicom", {".dcm"}).value();
  ASSERT_EQ(fa.size(), 12u);
  ASSERT_EQ(fb.size(), 12u);
  for (std::size_t i = 0; i < fa.size(); ++i) {
    ASSERT_EQ(fa[i].filename(), fb[i].filename());
    EXPECT_EQ(*read_file(fa[i]), *read_file(fb[i])) << fa[i].filename();
  }
  // Rerunning into the same directory is allowed and changes nothing.
  ASSERT_TRUE(generate_synthetic_dataset(a, two).ok());
  EXPECT_EQ(*read_file(a / "train-rle.csv"), *read_file(b / "train-rle.csv"));
  // A different seed gives different images, IDs and labels.
  SynthOptions other = one;
  other.seed = 6;
  ASSERT_TRUE(generate_synthetic_dataset(c, other).ok());
  EXPECT_NE(*read_file(c / "train-rle.csv"), *read_file(a / "train-rle.csv"));
  // The in-memory case is the written one.
  SynthCase c0 = generate_synthetic_case(one, 0);
  EXPECT_TRUE(fs::exists(a / "dicom" / (c0.meta.sop_instance_uid + ".dcm")));
}

TEST(Synth, CsvHasTheExactSiimLayoutAndDecodesToTheCaseMasks) {
  SynthOptions o = small_options(/*count=*/80, /*seed=*/3);
  o.threads = 2;
  const fs::path dir = temp_dir("csv");
  auto summary = generate_synthetic_dataset(dir, o);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  const std::string text = *read_file(dir / "train-rle.csv");
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.find('\r'), std::string::npos);
  auto lines = lines_of(text);
  ASSERT_EQ(lines.front(), "ImageId, EncodedPixels");

  const std::regex row_shape(R"(^2\.25\.[1-9][0-9]*,(-1|[0-9]+( [0-9]+)*)$)");
  std::map<std::string, std::vector<std::string>> rows_by_id;  // in file order per id
  std::vector<std::string> id_order;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    ASSERT_TRUE(std::regex_match(lines[i], row_shape)) << "line " << i + 1 << ": " << lines[i];
    auto comma = lines[i].find(',');
    std::string id = lines[i].substr(0, comma);
    if (!rows_by_id.count(id)) id_order.push_back(id);
    rows_by_id[id].push_back(lines[i].substr(comma + 1));
  }
  ASSERT_EQ(id_order.size(), 80u);
  EXPECT_EQ(summary->images, 80);
  EXPECT_EQ(summary->csv_rows, static_cast<int>(lines.size()) - 1);

  int positives = 0, multi = 0;
  for (int i = 0; i < o.count; ++i) {
    SynthCase c = generate_synthetic_case(o, i);
    ASSERT_EQ(id_order[i], c.meta.sop_instance_uid);
    const auto& rows = rows_by_id[c.meta.sop_instance_uid];
    if (c.masks.empty()) {
      EXPECT_EQ(rows, std::vector<std::string>{"-1"}) << "image " << i;
      continue;
    }
    ++positives;
    if (c.masks.size() > 1) ++multi;
    ASSERT_EQ(rows.size(), c.masks.size()) << "image " << i;
    Mask all(o.size, o.size);
    for (std::size_t k = 0; k < rows.size(); ++k) {
      Mask m = decode_relative(rows[k], o.size, o.size);
      EXPECT_EQ(m, c.masks[k]) << "image " << i << " row " << k;
      EXPECT_EQ(count_components(m), 1) << "image " << i << " row " << k;
      for (std::size_t p = 0; p < m.px.size(); ++p) {
        EXPECT_FALSE(m.px[p] && all.px[p]) << "rows of one image overlap";
        all.px[p] |= m.px[p];
      }
    }
    // Separate rows are separate regions: the union does not merge them.
    EXPECT_EQ(count_components(all), static_cast<int>(rows.size())) << "image " << i;
  }
  EXPECT_EQ(positives, 20);  // exactly round(80 * 0.25)
  EXPECT_EQ(summary->positives, 20);
  EXPECT_EQ(summary->negatives, 60);
  EXPECT_EQ(summary->multi_region, multi);
  EXPECT_GE(multi, 2);   // expected ~5 of 20 have 2-3 regions
  EXPECT_LE(multi, 12);

  // pneumo's own label reader agrees.
  LabelCsvOptions lo;
  lo.rows = lo.cols = o.size;
  auto table = read_label_csv(dir / "train-rle.csv", lo);
  ASSERT_TRUE(table.ok()) << table.error().message;
  EXPECT_TRUE(table->had_header);
  EXPECT_EQ(table->positive_images(), 20);
  EXPECT_EQ(table->negative_images(), 60);
  EXPECT_EQ(table->mask_rows(), summary->mask_rows);
}

TEST(Synth, MasksLieInTheLungsAndAreDarkerAndSmootherThanTheLungAround) {
  // 256 px, the size a small U-Net trains at: the signal must be clear there.
  SynthOptions o = small_options(/*count=*/16, /*seed=*/21, /*size=*/256);
  o.positive_share = 0.5;
  int regions = 0, textured = 0;
  for (int i = 0; i < o.count; ++i) {
    SynthCase c = generate_synthetic_case(o, i);
    for (const Mask& m : c.masks) {
      ++regions;
      long long area = 0;
      for (std::size_t p = 0; p < m.px.size(); ++p) {
        area += m.px[p];
        ASSERT_FALSE(m.px[p] && !c.lungs.px[p]) << "mask outside the lungs, image " << i;
      }
      EXPECT_GE(area, 300) << "region too small to learn at 256 px, image " << i;
      // The lung ring 4..12 px away (skipping the bright pleural line right at the border).
      Mask near = grow(m, 3), far = grow(m, 12);
      // Texture: the standard deviation in 5x5 windows that lie wholly inside the region, or
      // wholly inside the lung ring (so edges of the lung wall or of the region do not count);
      // compared by median, robust to the odd rib or clavicle edge.
      Mask not_inside(o.size, o.size), not_ring(o.size, o.size);
      double in_sum = 0, ring_sum = 0;
      long long in_n = 0, ring_n = 0;
      for (std::size_t p = 0; p < m.px.size(); ++p) {
        bool ring = far.px[p] && !near.px[p] && c.lungs.px[p];
        not_inside.px[p] = !m.px[p];
        not_ring.px[p] = !ring;
        if (m.px[p]) { in_sum += c.image.px[p]; ++in_n; }
        if (ring) { ring_sum += c.image.px[p]; ++ring_n; }
      }
      ASSERT_GT(ring_n, 50);
      double in_mean = in_sum / in_n, ring_mean = ring_sum / ring_n;
      EXPECT_LT(in_mean, ring_mean - 12) << "image " << i;

      Mask inside_edge = grow(not_inside, 2), ring_edge = grow(not_ring, 2);
      std::vector<double> in_tex, ring_tex;
      for (int r = 2; r + 2 < o.size; ++r) {
        for (int col = 2; col + 2 < o.size; ++col) {
          std::size_t p = static_cast<std::size_t>(r) * o.size + col;
          bool in_window = !inside_edge.px[p], ring_window = !ring_edge.px[p];
          if (!in_window && !ring_window) continue;
          double sum = 0, sum2 = 0;
          for (int dr = -2; dr <= 2; ++dr)
            for (int dc = -2; dc <= 2; ++dc) {
              double v = c.image.at(r + dr, col + dc);
              sum += v;
              sum2 += v * v;
            }
          double sd = std::sqrt(std::max(0.0, sum2 / 25 - (sum / 25) * (sum / 25)));
          (in_window ? in_tex : ring_tex).push_back(sd);
        }
      }
      ASSERT_GT(ring_tex.size(), 50u);
      if (in_tex.size() < 20) continue;  // a thin crescent: too little interior to measure
      ++textured;
      auto median = [](std::vector<double> v) {
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return v[v.size() / 2];
      };
      EXPECT_LT(median(in_tex), 0.75 * median(ring_tex)) << "image " << i;
    }
  }
  EXPECT_GE(regions, 8);
  EXPECT_GE(textured, regions / 2);
}

TEST(Synth, ImagesLookLikeChests) {
  SynthOptions o = small_options(/*count=*/6, /*seed=*/9, /*size=*/128);
  for (int i = 0; i < o.count; ++i) {
    SynthCase c = generate_synthetic_case(o, i);
    const int n = o.size;
    double lungs = 0, mediastinum = 0, corners = 0;
    long long ln = 0, mn = 0, cn = 0, lung_px = 0;
    for (int r = 0; r < n; ++r) {
      for (int col = 0; col < n; ++col) {
        double v = c.image.at(r, col);
        if (c.lungs.at(r, col)) { lungs += v; ++ln; ++lung_px; }
        if (std::abs(col - n / 2) < n / 40 && r > n / 4 && r < n / 2) { mediastinum += v; ++mn; }
        if ((r < n / 16 || r >= n - n / 16) && (col < n / 32 || col >= n - n / 32) && r < n / 2) {
          corners += v;  // air beside the neck
          ++cn;
        }
      }
    }
    ASSERT_GT(ln, 0);
    EXPECT_GT(lung_px, n * n / 10) << "lungs too small";
    EXPECT_LT(lung_px, n * n / 2) << "lungs too large";
    EXPECT_LT(lungs / ln + 30, mediastinum / mn) << "image " << i;
    EXPECT_LT(corners / cn + 30, mediastinum / mn) << "image " << i;
    // Both halves have lung.
    long long left = 0, right = 0;
    for (int r = 0; r < n; ++r)
      for (int col = 0; col < n; ++col) (col < n / 2 ? left : right) += c.lungs.at(r, col);
    EXPECT_GT(left, lung_px / 4);
    EXPECT_GT(right, lung_px / 4);
  }
}

TEST(Synth, DicomTagsReadBackWithDcmtk) {
  SynthOptions o = small_options(/*count=*/10, /*seed=*/17);
  const fs::path dir = temp_dir("tags");
  auto summary = generate_synthetic_dataset(dir, o);
  ASSERT_TRUE(summary.ok()) << summary.error().message;
  static std::once_flag once;
  std::call_once(once, [] { DJDecoderRegistration::registerCodecs(); });

  const std::regex uuid(R"(^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$)");
  std::set<std::string> uids;
  std::map<std::string, std::string> sex_of_patient;
  for (int i = 0; i < o.count; ++i) {
    SynthCase c = generate_synthetic_case(o, i);
    const fs::path file = dir / "dicom" / (c.meta.sop_instance_uid + ".dcm");
    DcmFileFormat ff;
    ASSERT_TRUE(ff.loadFile(file.c_str()).good()) << file;
    DcmDataset& ds = *ff.getDataset();
    const std::string sop = dcm_string(ds, DCM_SOPInstanceUID);
    EXPECT_EQ(sop, c.meta.sop_instance_uid);
    EXPECT_LE(sop.size(), 64u);
    EXPECT_EQ(sop.rfind("2.25.", 0), 0u);
    for (const auto& tag : {DCM_SOPInstanceUID, DCM_StudyInstanceUID, DCM_SeriesInstanceUID}) {
      EXPECT_TRUE(uids.insert(dcm_string(ds, tag)).second) << "UID repeats";
    }
    EXPECT_EQ(dcm_string(*ff.getMetaInfo(), DCM_TransferSyntaxUID), "1.2.840.10008.1.2.4.50");
    EXPECT_EQ(dcm_string(ds, DCM_SOPClassUID), "1.2.840.10008.5.1.4.1.1.7");
    EXPECT_EQ(dcm_string(ds, DCM_Modality), "CR");
    EXPECT_EQ(dcm_string(ds, DCM_BodyPartExamined), "CHEST");
    EXPECT_EQ(dcm_string(ds, DCM_PhotometricInterpretation), "MONOCHROME2");
    EXPECT_EQ(dcm_string(ds, DCM_PixelSpacing), "1.144\\1.144");  // 0.143 mm * 1024 / 128
    const std::string view = dcm_string(ds, DCM_ViewPosition);
    EXPECT_TRUE(view == "PA" || view == "AP") << view;
    const std::string sex = dcm_string(ds, DCM_PatientSex);
    EXPECT_TRUE(sex == "M" || sex == "F") << sex;
    const std::string age = dcm_string(ds, DCM_PatientAge);
    ASSERT_TRUE(std::regex_match(age, std::regex("^[0-9]{3}Y$"))) << age;
    int years = std::stoi(age.substr(0, 3));
    EXPECT_GE(years, 4);
    EXPECT_LE(years, 91);
    const std::string patient = dcm_string(ds, DCM_PatientID);
    EXPECT_TRUE(std::regex_match(patient, uuid)) << "patient id is not UUID-shaped";
    auto [it, fresh] = sex_of_patient.emplace(patient, sex);
    if (!fresh) EXPECT_EQ(it->second, sex) << "one patient, two sexes";
    // Pixels: the case image after JPEG (quality 95).
    ASSERT_TRUE(ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).good());
    const Uint8* px = nullptr;
    unsigned long count = 0;
    ASSERT_TRUE(ds.findAndGetUint8Array(DCM_PixelData, px, &count).good());
    ASSERT_GE(count, c.image.px.size());
    double diff = 0;
    for (std::size_t p = 0; p < c.image.px.size(); ++p) diff += std::abs(int(px[p]) - int(c.image.px[p]));
    EXPECT_LT(diff / c.image.px.size(), 3.0);
  }
  EXPECT_EQ(summary->patients, static_cast<int>(sex_of_patient.size()));
}

TEST(Synth, SomePatientsHaveTwoImages) {
  SynthOptions o = small_options(/*count=*/60, /*seed=*/4, /*size=*/64);
  std::map<std::string, int> images_of;
  for (int i = 0; i < o.count; ++i) ++images_of[generate_synthetic_case(o, i).meta.patient_id];
  int repeated = 0;
  for (const auto& [id, n] : images_of) {
    EXPECT_LE(n, 2);
    repeated += n == 2;
  }
  EXPECT_GE(repeated, 1);   // ~20% of 30 pairs
  EXPECT_LE(repeated, 15);
}

TEST(Synth, RejectsBadOptionsAndForeignFiles) {
  const fs::path dir = temp_dir("errors");
  SynthOptions o = small_options(1, 1);
  o.count = 0;
  auto r = generate_synthetic_dataset(dir, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("count"), std::string::npos);
  o = small_options(1, 1);
  o.size = 16;
  EXPECT_FALSE(generate_synthetic_dataset(dir, o).ok());
  o = small_options(1, 1);
  o.positive_share = 1.5;
  EXPECT_FALSE(generate_synthetic_dataset(dir, o).ok());

  // Another dataset's images in the output: refused, so labels never miss images.
  o = small_options(/*count=*/2, /*seed=*/1, /*size=*/64);
  ASSERT_TRUE(generate_synthetic_dataset(dir, o).ok());
  o.seed = 2;
  r = generate_synthetic_dataset(dir, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("not part of this dataset"), std::string::npos);
}

TEST(Synth, PreviewShowsImageAndOutline) {
  SynthOptions o = small_options(/*count=*/8, /*seed=*/2, /*size=*/64);
  o.positive_share = 1.0;
  SynthCase c = generate_synthetic_case(o, 0);
  ASSERT_FALSE(c.masks.empty());
  Image8 p = make_synth_preview(c);
  ASSERT_EQ(p.rows, 64);
  ASSERT_EQ(p.cols, 128);
  long long white_on_edge = 0;
  for (int r = 0; r < 64; ++r)
    for (int col = 0; col < 64; ++col) {
      EXPECT_EQ(p.at(r, col), c.image.at(r, col));
      bool any = false;
      for (const Mask& m : c.masks) any |= m.at(r, col) != 0;
      if (!any) continue;
      bool edge = r == 0 || col == 0 || r == 63 || col == 63;
      for (const Mask& m : c.masks)
        if (m.at(r, col))
          edge |= !m.at(r - 1 < 0 ? 0 : r - 1, col) || !m.at(r + 1 > 63 ? 63 : r + 1, col) ||
                  !m.at(r, col - 1 < 0 ? 0 : col - 1) || !m.at(r, col + 1 > 63 ? 63 : col + 1);
      if (edge) white_on_edge += p.at(r, 64 + col) == 255;
    }
  EXPECT_GT(white_on_edge, 10);
}

TEST(Synth, PneumoReaderReadsTheFilesBack) {
  SynthOptions o = small_options(/*count=*/4, /*seed=*/31);
  const fs::path dir = temp_dir("reader");
  ASSERT_TRUE(generate_synthetic_dataset(dir, o).ok());
  for (int i = 0; i < o.count; ++i) {
    SynthCase c = generate_synthetic_case(o, i);
    auto d = read_dicom(dir / "dicom" / (c.meta.sop_instance_uid + ".dcm"));
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(d->meta.sop_instance_uid, c.meta.sop_instance_uid);
    EXPECT_EQ(d->meta.study_instance_uid, c.meta.study_instance_uid);
    EXPECT_EQ(d->meta.patient_id, c.meta.patient_id);
    EXPECT_EQ(d->meta.sex, c.meta.sex);
    ASSERT_TRUE(d->meta.age_years.has_value());
    EXPECT_EQ(*d->meta.age_years, *c.meta.age_years);
    EXPECT_EQ(d->meta.view_position, c.meta.view_position);
    EXPECT_EQ(d->meta.modality, "CR");
    EXPECT_EQ(d->meta.photometric, "MONOCHROME2");
    EXPECT_EQ(d->meta.transfer_syntax_uid, "1.2.840.10008.1.2.4.50");
    ASSERT_TRUE(d->meta.pixel_spacing_row_mm.has_value());
    EXPECT_NEAR(*d->meta.pixel_spacing_row_mm, 1.144, 1e-9);
    ASSERT_EQ(d->image.rows, o.size);
    ASSERT_EQ(d->image.cols, o.size);
    // 8-bit pixels without a VOI window read back as written, up to JPEG loss.
    double diff = 0;
    for (std::size_t p = 0; p < c.image.px.size(); ++p) diff += std::abs(int(d->image.px[p]) - int(c.image.px[p]));
    EXPECT_LT(diff / c.image.px.size(), 3.0) << "image " << i;
  }
}
