#include "pneumo/pipeline/cache.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include <opencv2/imgcodecs.hpp>

#include "pneumo/core/files.hpp"
#include "pneumo/core/image_files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"
#include "pneumo/transforms/resize.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pneumo {
namespace {

// Bump when the decoding/resizing of cached files changes, so old caches are rebuilt.
// 2: images come from read_dicom_resized (JPEG decoded at 1/2, 1/4 or 1/8 in the DCT domain, then
//    area-resized), no longer read_dicom + resize_image.
constexpr int kCacheFormatVersion = 2;

struct Fingerprint {
  std::uintmax_t source_bytes = 0;
  long long source_mtime_ns = 0;
  std::string rle_hash;
  bool operator==(const Fingerprint&) const = default;
};

struct ManifestEntry {
  Fingerprint fingerprint;
  CacheEntry entry;
};

Result<Fingerprint> fingerprint_of(const SampleSource& source) {
  std::error_code ec;
  Fingerprint f;
  if (!fs::exists(source.image_path, ec)) {
    return fail(ErrorCode::kNotFound, source.image_path.string() + ": no such file");
  }
  f.source_bytes = fs::file_size(source.image_path, ec);
  if (ec) return fail(ErrorCode::kIo, source.image_path.string() + ": cannot stat: " + ec.message());
  const auto mtime = fs::last_write_time(source.image_path, ec);
  if (ec) return fail(ErrorCode::kIo, source.image_path.string() + ": cannot stat: " + ec.message());
  f.source_mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
  f.rle_hash = rle_rows_hash(source.rle_rows);
  return f;
}

Status check_image_id(const std::string& id) {
  if (id.empty()) return fail(ErrorCode::kBadInput, "empty image id");
  if (id.front() == '.' || id.find_first_of("/\\") != std::string::npos || id.find('\0') != std::string::npos) {
    return fail(ErrorCode::kBadInput, id + ": image id is not usable as a file name (leading '.', '/' or '\\')");
  }
  return ok_status();
}

bool is_empty_rle(std::string_view row) {
  const std::string_view t = trim(row);
  return t.empty() || t == "-1";
}

json entry_to_json(const ManifestEntry& m) {
  const CacheEntry& e = m.entry;
  return json{{"source_bytes", m.fingerprint.source_bytes},
              {"source_mtime_ns", m.fingerprint.source_mtime_ns},
              {"rle_hash", m.fingerprint.rle_hash},
              {"rows", e.rows},
              {"cols", e.cols},
              {"source_rows", e.source_rows},
              {"source_cols", e.source_cols},
              {"positive", e.positive},
              {"mask_pixels", e.mask_pixels}};
}

std::optional<ManifestEntry> entry_from_json(const std::string& id, const json& j, const fs::path& dir) {
  try {
    ManifestEntry m;
    m.fingerprint.source_bytes = j.at("source_bytes").get<std::uintmax_t>();
    m.fingerprint.source_mtime_ns = j.at("source_mtime_ns").get<long long>();
    m.fingerprint.rle_hash = j.at("rle_hash").get<std::string>();
    CacheEntry& e = m.entry;
    e.image_id = id;
    e.image_png = dir / (id + ".png");
    e.mask_png = dir / (id + "_mask.png");
    e.rows = j.at("rows").get<int>();
    e.cols = j.at("cols").get<int>();
    e.source_rows = j.at("source_rows").get<int>();
    e.source_cols = j.at("source_cols").get<int>();
    e.positive = j.at("positive").get<bool>();
    e.mask_pixels = j.at("mask_pixels").get<long long>();
    return m;
  } catch (const json::exception&) {
    return std::nullopt;  // a malformed entry is simply rebuilt
  }
}

// Reads the manifest; anything unreadable means "start from an empty cache" (reset = true).
std::unordered_map<std::string, ManifestEntry> read_manifest(const fs::path& path, const fs::path& dir, int size,
                                                            bool& reset) {
  std::unordered_map<std::string, ManifestEntry> entries;
  std::error_code ec;
  if (!fs::exists(path, ec)) return entries;
  auto text = read_file(path);
  json j = text ? json::parse(*text, nullptr, /*allow_exceptions=*/false) : json();
  if (!j.is_object() || j.value("format", "") != "pneumo-cache" || j.value("version", 0) != kCacheFormatVersion ||
      j.value("size", 0) != size || !j.contains("entries") || !j["entries"].is_object()) {
    reset = true;
    return entries;
  }
  for (const auto& item : j["entries"].items()) {
    if (auto m = entry_from_json(item.key(), item.value(), dir)) entries.emplace(item.key(), std::move(*m));
  }
  return entries;
}

Status write_manifest(const fs::path& path, int size, const std::unordered_map<std::string, ManifestEntry>& entries) {
  std::vector<const std::string*> ids;
  ids.reserve(entries.size());
  for (const auto& kv : entries) ids.push_back(&kv.first);
  std::sort(ids.begin(), ids.end(), [](const std::string* a, const std::string* b) { return *a < *b; });
  json out_entries = json::object();
  for (const std::string* id : ids) out_entries[*id] = entry_to_json(entries.at(*id));
  const json j{{"format", "pneumo-cache"}, {"version", kCacheFormatVersion}, {"size", size}, {"entries", out_entries}};
  return write_file_atomic(path, j.dump(1) + "\n");
}

// A PNG/JPEG decoded to grey at target size. JPEG: libjpeg scales by 1/2, 1/4 or 1/8 in the DCT
// domain when that keeps both sides >= the target (as read_dicom_resized does for DICOM JPEGs),
// then resize_image brings it to the exact size. meta.rows/cols give the stored size.
Result<DicomImage> read_plain_image_resized(const fs::path& path, int target_rows, int target_cols) {
  auto stored = read_image_size(path);
  if (!stored) return stored.error();
  int flags = cv::IMREAD_GRAYSCALE;
  const std::string ext = to_lower(path.extension().string());
  if (ext == ".jpg" || ext == ".jpeg") {
    for (auto [factor, reduced] : {std::pair{8, cv::IMREAD_REDUCED_GRAYSCALE_8}, std::pair{4, cv::IMREAD_REDUCED_GRAYSCALE_4},
                                   std::pair{2, cv::IMREAD_REDUCED_GRAYSCALE_2}}) {
      if ((stored->rows + factor - 1) / factor >= target_rows && (stored->cols + factor - 1) / factor >= target_cols) {
        flags = reduced;
        break;
      }
    }
  }
  cv::Mat mat;
  try {
    mat = cv::imread(path.string(), flags);
  } catch (const cv::Exception&) {
    mat.release();
  }
  if (mat.empty() || mat.type() != CV_8UC1) return fail(ErrorCode::kBadInput, path.string() + ": not a decodable PNG/JPEG image");
  Image8 decoded(mat.rows, mat.cols);
  for (int r = 0; r < mat.rows; ++r) std::copy_n(mat.ptr(r), mat.cols, decoded.px.begin() + std::size_t(r) * mat.cols);
  DicomImage out;
  out.meta.sop_instance_uid = path.stem().string();
  out.meta.rows = stored->rows;
  out.meta.cols = stored->cols;
  out.image = resize_image(decoded, target_rows, target_cols);
  return out;
}

// Decodes, resizes and writes one source. Errors carry the image id.
Result<CacheEntry> build_entry(const SampleSource& source, const fs::path& dir, int size) {
  // Decoded straight to the cache size (DCT-domain scaling for JPEG): the mask is decoded at the
  // source size from the header's Rows/Columns and area-resized below.
  auto decoded = is_plain_image_file(source.image_path)
                     ? read_plain_image_resized(source.image_path, /*target_rows=*/size, /*target_cols=*/size)
                     : read_dicom_resized(source.image_path, /*target_rows=*/size, /*target_cols=*/size);
  if (!decoded) return decoded.error();
  const DicomMeta& meta = decoded->meta;
  if (decoded->image.empty() || meta.rows <= 0 || meta.cols <= 0) {
    return fail(ErrorCode::kBadInput, source.image_path.string() + ": image has no pixels");
  }
  Mask mask(meta.rows, meta.cols);
  for (size_t i = 0; i < source.rle_rows.size(); ++i) {
    if (is_empty_rle(source.rle_rows[i])) continue;
    if (auto st = decode_rle_into(trim(source.rle_rows[i]), mask, RleFormat::kRelative); !st) {
      return fail(st.error().code, "RLE row " + std::to_string(i + 1) + " for a " + std::to_string(meta.rows) + "x" +
                                       std::to_string(meta.cols) + " image: " + st.error().message);
    }
  }
  CacheEntry e;
  e.image_id = source.image_id;
  e.image_png = dir / (source.image_id + ".png");
  e.mask_png = dir / (source.image_id + "_mask.png");
  e.rows = e.cols = size;
  e.source_rows = meta.rows;
  e.source_cols = meta.cols;
  e.positive = count_nonzero(mask) > 0;
  const Image8& small = decoded->image;
  Mask small_mask = resize_mask(mask, size, size);
  e.mask_pixels = count_nonzero(small_mask);
  for (auto& v : small_mask.px) v = v ? 255 : 0;
  if (auto st = write_png(e.image_png, small); !st) return st.error();
  if (auto st = write_png(e.mask_png, small_mask); !st) return st.error();
  return e;
}

}  // namespace

std::string rle_rows_hash(const std::vector<std::string>& rle_rows) {
  std::vector<std::string_view> rows;
  for (const auto& r : rle_rows) {
    if (!is_empty_rle(r)) rows.push_back(trim(r));
  }
  std::sort(rows.begin(), rows.end());
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  auto feed = [&](unsigned char byte) {
    h ^= byte;
    h *= 0x100000001b3ULL;
  };
  for (std::string_view r : rows) {
    for (char ch : r) feed(static_cast<unsigned char>(ch));
    feed('\n');  // separator, so "1 2"+"3 4" differs from "1 23 4"
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

Result<CacheBuild> build_cache(const std::vector<SampleSource>& sources, const CacheOptions& options) {
  if (options.size < 8) {
    return fail(ErrorCode::kInvalidArgument, "cache size " + std::to_string(options.size) + ": expected at least 8 pixels");
  }
  if (options.cache_dir.empty()) return fail(ErrorCode::kInvalidArgument, "cache directory: expected a path, got \"\"");
  const fs::path dir = options.cache_dir / std::to_string(options.size);
  if (auto st = ensure_directory(dir); !st) return st.error();

  CacheBuild build;
  build.manifest_path = dir / "manifest.json";
  auto manifest = read_manifest(build.manifest_path, dir, options.size, build.stats.manifest_reset);

  // Sources that cannot even be attempted: bad or duplicate ids.
  std::vector<std::optional<Error>> early(sources.size());
  std::unordered_map<std::string, size_t> first_index;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (auto st = check_image_id(sources[i].image_id); !st) {
      early[i] = st.error();
    } else if (auto [it, inserted] = first_index.emplace(sources[i].image_id, i); !inserted) {
      early[i] = fail(ErrorCode::kBadInput, sources[i].image_id + ": duplicate image id (also source #" +
                                                std::to_string(it->second + 1) + "); kept the first");
    }
  }

  struct Outcome {
    std::optional<CacheEntry> entry;
    std::optional<Fingerprint> fingerprint;
    std::optional<Error> error;
    bool reused = false;
  };
  std::vector<Outcome> outcomes(sources.size());
  Progress progress("cache " + std::to_string(options.size) + "px", static_cast<long long>(sources.size()),
                    options.show_progress);
  const int threads = options.threads > 0 ? options.threads : default_threads();
  parallel_for(sources.size(), threads, [&](size_t i) {
    Outcome& out = outcomes[i];
    const SampleSource& src = sources[i];
    if (early[i]) {
      out.error = early[i];
    } else if (auto fp = fingerprint_of(src); !fp) {
      out.error = fp.error();
    } else {
      out.fingerprint = *fp;
      std::error_code ec;
      auto it = manifest.find(src.image_id);  // read-only during the parallel phase
      if (it != manifest.end() && it->second.fingerprint == *fp && fs::exists(it->second.entry.image_png, ec) &&
          fs::exists(it->second.entry.mask_png, ec)) {
        out.entry = it->second.entry;
        out.reused = true;
      } else if (auto built = build_entry(src, dir, options.size); built) {
        out.entry = std::move(*built);
      } else {
        out.error = built.error();
      }
    }
    if (out.error && out.error->message.rfind(src.image_id, 0) != 0) {
      out.error->message = (src.image_id.empty() ? std::string("<empty id>") : src.image_id) + ": " + out.error->message;
    }
    progress.tick();
  });
  progress.finish();

  for (size_t i = 0; i < sources.size(); ++i) {
    Outcome& out = outcomes[i];
    if (out.error) {
      ++build.stats.failed;
      // A failed source drops its manifest entry so that stale PNGs are never reused; a duplicate
      // id must not drop the entry its first occurrence just built.
      if (!early[i]) manifest.erase(sources[i].image_id);
      build.errors.push_back(std::move(*out.error));
      continue;
    }
    ++(out.reused ? build.stats.reused : build.stats.built);
    manifest[sources[i].image_id] = ManifestEntry{*out.fingerprint, *out.entry};
    build.entries.push_back(std::move(*out.entry));
  }
  if (auto st = write_manifest(build.manifest_path, options.size, manifest); !st) return st.error();
  return build;
}

}  // namespace pneumo
