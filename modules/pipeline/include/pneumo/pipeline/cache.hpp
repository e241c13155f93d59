// Preprocess cache: decode each image (DICOM, PNG or JPEG) and its RLE mask once, resize to the training size and keep
// them as PNGs, so training epochs never touch DICOM or RLE again.
//
//   std::vector<pneumo::SampleSource> sources = ...;   // id, DICOM path, RLE rows ("-1" = empty)
//   pneumo::CacheOptions opt{.cache_dir = "cache", .size = 256};
//   auto built = pneumo::build_cache(sources, opt);
//   if (!built) return built.error();                  // only when the cache itself is unusable
//   for (const auto& e : built->errors) log(e.message);  // bad inputs: reported and skipped
//   use(built->entries);                               // one per good source, in input order
//
// Layout: <cache_dir>/<size>/<image_id>.png (8-bit image) and <image_id>_mask.png (0/255), plus
// <cache_dir>/<size>/manifest.json recording each entry's source fingerprint: DICOM file size,
// modification time and a hash of its RLE rows. A re-run reuses an entry whose fingerprint matches
// and whose PNGs exist; a changed source (or changed labels) rebuilds just that entry. Entries of
// sources not in this run are kept in the manifest, so one cache can serve several source lists.
// Masks are the union of the rows, decoded as SIIM relative RLE at the DICOM's own size, and
// resized with pneumo::resize_mask (area + threshold 0.5, tiny lesions kept); DICOMs with
// pneumo::read_dicom_resized (JPEG decoded at 1/2, 1/4 or 1/8 in the DCT domain, then area
// averaging to the exact size; other codecs: full decode + area averaging); JPEG files the same
// way through OpenCV's reduced decoding (libjpeg's DCT scaling), PNG files by full decode + area
// averaging.
// Every file is written atomically (temp + rename).
// Thread-safety: build_cache uses `threads` workers internally; do not run two builds on the
// same cache directory at once (the manifest is read at the start and written at the end).
#pragma once

#include <cstddef>  // before image.hpp, which uses size_t without including it
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"

namespace pneumo {

struct SampleSource {
  std::string image_id;                // file-name safe: no '/', '\\', not empty, no leading '.'
  std::filesystem::path image_path;  // a DICOM, or a PNG/JPEG (8-bit grey; colour is converted)
  std::vector<std::string> rle_rows;   // SIIM relative RLE; "-1" or empty rows mean no mask
};

struct CacheOptions {
  std::filesystem::path cache_dir;
  int size = 256;            // square training size in pixels
  int threads = 0;           // 0 = default_threads()
  bool show_progress = true;
};

struct CacheEntry {
  std::string image_id;
  std::filesystem::path image_png;
  std::filesystem::path mask_png;
  int rows = 0, cols = 0;                // cached size (size x size)
  int source_rows = 0, source_cols = 0;  // DICOM size
  bool positive = false;                 // the source mask has at least one pixel
  long long mask_pixels = 0;             // non-zero pixels of the cached (resized) mask
};

struct CacheStats {
  long long built = 0;   // decoded and written in this run
  long long reused = 0;  // fingerprint matched, nothing written
  long long failed = 0;  // reported in CacheBuild::errors
  bool manifest_reset = false;  // the old manifest was unreadable or of another version/size
};

struct CacheBuild {
  std::vector<CacheEntry> entries;  // good sources, in input order
  std::vector<Error> errors;        // one per bad source: "<image_id>: <what went wrong>"
  CacheStats stats;
  std::filesystem::path manifest_path;
};

// Fails only when the cache directory cannot be created or the manifest cannot be written, or
// when options are invalid (size < 8).
Result<CacheBuild> build_cache(const std::vector<SampleSource>& sources, const CacheOptions& options);

// Where `pneumo train`, `eval` and `tune` keep the cache unless told otherwise:
// $XDG_CACHE_HOME (or ~/.cache)/pneumo/<FNV-1a hash of the DICOM folder's absolute path>. Never
// inside the data folder, which is often read-only or someone else's.
std::filesystem::path default_cache_dir(const std::filesystem::path& dicom_dir);

// The source fingerprint stored in the manifest: hash of the RLE rows (FNV-1a 64, rows trimmed,
// empty and "-1" rows ignored, sorted so row order does not matter), as 16 hex digits.
std::string rle_rows_hash(const std::vector<std::string>& rle_rows);

}  // namespace pneumo
