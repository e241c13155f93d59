// A phantom dataset in the SIIM-ACR layout: chest-X-ray-like images with pneumothorax masks.
//
//   pneumo::SynthOptions opt;  opt.count = 200;  opt.seed = 7;  opt.size = 256;
//   auto sum = pneumo::generate_synthetic_dataset("synth", opt);
//   // synth/dicom/<SOPInstanceUID>.dcm   JPEG baseline, MONOCHROME2, 8-bit, CR, CHEST
//   // synth/train-rle.csv                 "ImageId, EncodedPixels", relative RLE, -1 = negative,
//   //                                      one row per separate pneumothorax region
//
//   pneumo::SynthCase c = pneumo::generate_synthetic_case(opt, /*index=*/3);  // pixels + masks
//
// What an image holds: air outside a soft-tissue body, two dark lung fields with vessel-like
// markings, posterior ribs, clavicles, spine, mediastinum and heart, diaphragm domes, smooth
// seeded noise, a small random pose and a global brightness/contrast/gamma change. A pneumothorax
// is a dark, marking-free crescent along a lung's apex or lateral wall with a thin bright pleural
// line at its medial border; its mask is exactly that crescent (one connected region per mask).
//
// Determinism: everything derives from (seed, image index) through std::mt19937_64 and the
// module's own distributions, so the same options give byte-identical files whatever the thread
// count. Identifiers are synthetic: UIDs "2.25.<128-bit number>", patient IDs UUID-shaped; some
// patients have two images (so patient-grouped folds matter).
//
// Thread-safety: all functions are pure apart from the files they write; different output
// directories may be generated concurrently.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"
#include "pneumo/dicom/dicom.hpp"

namespace pneumo {

struct SynthOptions {
  int count = 100;               // images
  std::uint64_t seed = 1;
  int size = 1024;               // rows = cols; 64..4096
  double positive_share = 0.25;  // exactly round(count * share) images get a pneumothorax
  int threads = 1;               // worker threads for rendering and encoding (<= 0: all cores)
  int jpeg_quality = 95;
  bool progress = false;         // draw a Progress bar on stderr
};

// One generated image with its labels (before JPEG encoding).
struct SynthCase {
  int index = 0;
  DicomMeta meta;
  Image8 image;              // size x size
  std::vector<Mask> masks;   // one per pneumothorax region (0/1, pairwise disjoint); empty = negative
  Mask lungs;                // the lung fields (0/1), for checks: every mask lies inside it
};

struct SynthSummary {
  int images = 0;
  int positives = 0;      // images with at least one mask
  int negatives = 0;
  int multi_region = 0;   // positives with 2 or 3 masks
  int mask_rows = 0;      // CSV rows with an RLE
  int csv_rows = 0;       // data rows (header excluded)
  int patients = 0;       // distinct PatientIDs
  int first_positive_index = -1;  // a positive case to preview, -1 when none
  std::filesystem::path dicom_dir;
  std::filesystem::path csv_path;
};

// Writes out_dir/dicom/*.dcm and out_dir/train-rle.csv (each atomically). Fails with
// kInvalidArgument on bad options or when out_dir/dicom already holds .dcm files that do not
// belong to this dataset (a different seed/count), so stale images never mix with new labels.
Result<SynthSummary> generate_synthetic_dataset(const std::filesystem::path& out_dir,
                                                const SynthOptions& options);

// The case that generate_synthetic_dataset writes as image `index` (same pixels before JPEG).
// requires: 0 <= index < options.count, options valid (see check_synth_options)
SynthCase generate_synthetic_case(const SynthOptions& options, int index);

// kInvalidArgument naming the field when count < 1, size outside 64..4096, share outside
// 0..1 or quality outside 1..100.
Status check_synth_options(const SynthOptions& options);

// A side-by-side preview for people: the image on the left; on the right the same image with
// every mask outline drawn in white and a black halo so it shows on bright and dark pixels.
Image8 make_synth_preview(const SynthCase& c);

}  // namespace pneumo
