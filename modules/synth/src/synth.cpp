// Synthetic SIIM-format dataset: plans who is positive and which images share a patient, renders
// each image from (seed, index) alone, and writes the DICOMs and train-rle.csv.
#include "pneumo/synth/synth.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "phantom.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace pneumo {
namespace {

using synth_detail::combine_keys;
using synth_detail::mix64;
using synth_detail::Rng;

// Domain tags so that different uses of the seed never share a random stream.
enum Tag : std::uint64_t {
  kTagPositives = 0x506f73, kTagPair = 0x50616972, kTagPatient = 0x50617469,
  kTagImage = 0x496d6167, kTagUid = 0x556964
};

std::uint64_t key(std::uint64_t seed, Tag tag, std::uint64_t index) {
  return combine_keys(combine_keys(seed, tag), index);
}

// "2.25.<decimal of a 128-bit number>": the standard UID form that needs no registered root
// (ITU-T X.667); at most 44 characters.
std::string uuid_derived_uid(std::uint64_t k) {
  const std::uint64_t hi = mix64(k), lo = mix64(k ^ 0x5555);
  // The 128-bit number as four 32-bit limbs, most significant first; long division by 10.
  std::uint32_t limbs[4] = {static_cast<std::uint32_t>(hi >> 32), static_cast<std::uint32_t>(hi),
                            static_cast<std::uint32_t>(lo >> 32), static_cast<std::uint32_t>(lo)};
  if ((hi | lo) == 0) limbs[3] = 1;
  std::string digits;
  for (;;) {
    bool zero = true;
    std::uint64_t remainder = 0;
    for (std::uint32_t& limb : limbs) {
      std::uint64_t cur = (remainder << 32) | limb;
      limb = static_cast<std::uint32_t>(cur / 10);
      remainder = cur % 10;
      zero = zero && limb == 0;
    }
    digits.push_back(static_cast<char>('0' + remainder));
    if (zero) break;
  }
  std::reverse(digits.begin(), digits.end());
  return "2.25." + digits;
}

// A UUID-shaped pseudonym like SIIM's anonymised patient IDs ("17d405a3-a0d2-4901-...").
std::string patient_pseudonym(Rng& rng) {
  std::uint64_t hi = rng.next(), lo = rng.next();
  hi = (hi & ~0xF000ULL) | 0x4000ULL;  // version 4 nibble
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xFFFF),
                static_cast<unsigned long long>(hi & 0xFFFF),
                static_cast<unsigned long long>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

struct Uids {
  std::string study, series, instance;
};
Uids case_uids(std::uint64_t seed, int index) {
  std::uint64_t k = key(seed, kTagUid, static_cast<std::uint64_t>(index));
  return {uuid_derived_uid(combine_keys(k, 1)), uuid_derived_uid(combine_keys(k, 2)),
          uuid_derived_uid(combine_keys(k, 3))};
}

// Exactly round(count * share) positives, spread by a seeded shuffle.
std::vector<bool> choose_positives(const SynthOptions& o) {
  std::vector<int> order(static_cast<std::size_t>(o.count));
  for (int i = 0; i < o.count; ++i) order[i] = i;
  Rng rng(key(o.seed, kTagPositives, 0));
  for (int i = o.count - 1; i > 0; --i) std::swap(order[i], order[rng.integer(0, i)]);
  auto positives = static_cast<int>(std::llround(o.count * o.positive_share));
  std::vector<bool> positive(static_cast<std::size_t>(o.count), false);
  for (int i = 0; i < positives; ++i) positive[order[i]] = true;
  return positive;
}

// Images 2k and 2k+1 belong to one patient for about a fifth of the pairs.
int patient_index_of(const SynthOptions& o, int index) {
  int first = index - index % 2;
  if (first + 1 >= o.count) return index;
  Rng rng(key(o.seed, kTagPair, static_cast<std::uint64_t>(first / 2)));
  return rng.chance(0.2) ? first : index;
}

SynthCase make_case(const SynthOptions& o, int index, bool positive) {
  const int patient = patient_index_of(o, index);
  Rng patient_rng(key(o.seed, kTagPatient, static_cast<std::uint64_t>(patient)));
  Rng rng(key(o.seed, kTagImage, static_cast<std::uint64_t>(index)));

  SynthCase c;
  c.index = index;
  DicomMeta& m = c.meta;
  m.patient_id = patient_pseudonym(patient_rng);
  m.sex = patient_rng.chance(0.55) ? "M" : "F";
  int age = patient_rng.chance(0.04)
                ? patient_rng.integer(4, 17)
                : 18 + static_cast<int>(std::lround(72 * (patient_rng.uniform() + patient_rng.uniform()) / 2));
  synth_detail::Anatomy anatomy = synth_detail::random_anatomy(patient_rng);
  if (patient != index) age += rng.integer(0, 1);  // a follow-up image, maybe a year later
  m.age_years = age;
  char age_text[8];
  std::snprintf(age_text, sizeof age_text, "%03dY", age);
  m.age_text = age_text;

  const bool ap = rng.chance(0.2);
  m.view_position = ap ? "AP" : "PA";
  m.modality = "CR";
  m.body_part = "CHEST";
  m.study_description = ap ? "XR CHEST AP" : "XR CHEST PA";
  m.sop_class_uid = "1.2.840.10008.5.1.4.1.1.7";  // Secondary Capture, as in SIIM
  Uids uids = case_uids(o.seed, index);
  m.study_instance_uid = uids.study;
  m.series_instance_uid = uids.series;
  m.sop_instance_uid = uids.instance;
  // ~0.143 mm at 1024 px: the detector covers the same field whatever the size.
  double spacing = std::round(0.143 * 1024.0 / o.size * 1e6) / 1e6;
  m.pixel_spacing_row_mm = spacing;
  m.pixel_spacing_col_mm = spacing;
  m.rows = m.cols = o.size;
  m.photometric = "MONOCHROME2";
  m.bits_allocated = m.bits_stored = 8;

  synth_detail::Acquisition acq = synth_detail::random_acquisition(rng, ap);
  int regions = 0;
  if (positive) {
    double u = rng.uniform();
    regions = u < 0.75 ? 1 : (u < 0.93 ? 2 : 3);
  }
  synth_detail::Phantom ph = synth_detail::render_phantom(anatomy, acq, o.size, regions, rng);
  c.image = std::move(ph.image);
  c.masks = std::move(ph.masks);
  c.lungs = std::move(ph.lungs);
  return c;
}

}  // namespace

Status check_synth_options(const SynthOptions& o) {
  if (o.count < 1) {
    return fail(ErrorCode::kInvalidArgument, "synth: count must be at least 1, got " + std::to_string(o.count));
  }
  if (o.size < 64 || o.size > 4096) {
    return fail(ErrorCode::kInvalidArgument, "synth: size must be 64..4096 pixels, got " + std::to_string(o.size));
  }
  if (!(o.positive_share >= 0.0 && o.positive_share <= 1.0)) {
    return fail(ErrorCode::kInvalidArgument,
                "synth: positive share must be 0..1, got " + std::to_string(o.positive_share));
  }
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100) {
    return fail(ErrorCode::kInvalidArgument,
                "synth: JPEG quality must be 1..100, got " + std::to_string(o.jpeg_quality));
  }
  return ok_status();
}

SynthCase generate_synthetic_case(const SynthOptions& options, int index) {
  std::vector<bool> positive = choose_positives(options);
  return make_case(options, index, positive.at(static_cast<std::size_t>(index)));
}

Result<SynthSummary> generate_synthetic_dataset(const std::filesystem::path& out_dir,
                                                const SynthOptions& options) {
  if (auto st = check_synth_options(options); !st) return st.error();
  SynthSummary summary;
  summary.dicom_dir = out_dir / "dicom";
  summary.csv_path = out_dir / "train-rle.csv";
  if (auto st = ensure_directory(summary.dicom_dir); !st) return st.error();

  // Refuse to mix with another dataset's images: the CSV would not label them.
  std::set<std::string> expected;
  for (int i = 0; i < options.count; ++i) expected.insert(case_uids(options.seed, i).instance + ".dcm");
  auto existing = list_files(summary.dicom_dir, {".dcm"}, /*recursive=*/true);
  if (!existing) return existing.error();
  long long foreign = 0;
  for (const auto& f : *existing) {
    if (f.parent_path() != summary.dicom_dir || !expected.count(f.filename().string())) ++foreign;
  }
  if (foreign > 0) {
    return fail(ErrorCode::kInvalidArgument,
                summary.dicom_dir.string() + ": already holds " + std::to_string(foreign) +
                    " .dcm files that are not part of this dataset (other seed or count); "
                    "use an empty output directory");
  }

  const std::vector<bool> positive = choose_positives(options);
  struct CaseRows {
    std::string uid;
    std::string patient_id;
    std::vector<std::string> encodings;  // empty = negative
  };
  std::vector<CaseRows> rows(static_cast<std::size_t>(options.count));
  std::mutex error_mutex;
  std::optional<std::pair<int, Error>> first_error;  // lowest failing index: stable message
  Progress bar("synth", options.count, options.progress);
  const int threads = options.threads > 0 ? options.threads : default_threads();

  parallel_for(static_cast<std::size_t>(options.count), threads, [&](std::size_t i) {
    const int index = static_cast<int>(i);
    SynthCase c = make_case(options, index, positive[i]);
    const std::filesystem::path file = summary.dicom_dir / (c.meta.sop_instance_uid + ".dcm");
    Status st = write_dicom(file, c.meta, c.image, DicomEncoding::kJpegBaseline, options.jpeg_quality);
    if (!st) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!first_error || first_error->first > index) first_error.emplace(index, st.error());
    }
    CaseRows& r = rows[i];
    r.uid = c.meta.sop_instance_uid;
    r.patient_id = c.meta.patient_id;
    for (const Mask& m : c.masks) r.encodings.push_back(encode_rle(m, RleFormat::kRelative));
    bar.tick();
  });
  bar.finish();
  if (first_error) return first_error->second;

  // Exactly the layout of SIIM's train-rle.csv: header with a space after the comma, no space
  // before the RLE, '\n' line ends, a final newline.
  std::string csv = "ImageId, EncodedPixels\n";
  std::set<std::string> patients;
  for (const CaseRows& r : rows) {
    patients.insert(r.patient_id);
    ++summary.images;
    if (r.encodings.empty()) {
      csv += r.uid + ",-1\n";
      ++summary.negatives;
      ++summary.csv_rows;
      continue;
    }
    ++summary.positives;
    if (r.encodings.size() > 1) ++summary.multi_region;
    if (summary.first_positive_index < 0) summary.first_positive_index = summary.images - 1;
    for (const std::string& e : r.encodings) {
      csv += r.uid + "," + e + "\n";
      ++summary.mask_rows;
      ++summary.csv_rows;
    }
  }
  summary.patients = static_cast<int>(patients.size());
  if (auto st = write_file_atomic(summary.csv_path, csv); !st) return st.error();
  return summary;
}

Image8 make_synth_preview(const SynthCase& c) {
  const Image8& img = c.image;
  Image8 out(img.rows, img.cols * 2);
  Mask outline(img.rows, img.cols);
  for (const Mask& m : c.masks) {
    for (int r = 0; r < m.rows; ++r) {
      for (int col = 0; col < m.cols; ++col) {
        if (!m.at(r, col)) continue;
        bool edge = r == 0 || col == 0 || r == m.rows - 1 || col == m.cols - 1 ||
                    !m.at(r - 1, col) || !m.at(r + 1, col) || !m.at(r, col - 1) ||
                    !m.at(r, col + 1);
        if (edge) outline.at(r, col) = 1;
      }
    }
  }
  for (int r = 0; r < img.rows; ++r) {
    for (int col = 0; col < img.cols; ++col) {
      out.at(r, col) = img.at(r, col);
      std::uint8_t v = img.at(r, col);
      bool halo = false;
      for (int dr = -1; dr <= 1 && !halo; ++dr) {
        for (int dc = -1; dc <= 1 && !halo; ++dc) {
          int rr = r + dr, cc = col + dc;
          halo = rr >= 0 && cc >= 0 && rr < img.rows && cc < img.cols && outline.at(rr, cc);
        }
      }
      if (halo) v = 0;
      if (outline.at(r, col)) v = 255;
      out.at(r, img.cols + col) = v;
    }
  }
  return out;
}

}  // namespace pneumo
