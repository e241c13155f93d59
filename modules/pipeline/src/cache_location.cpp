#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>

#include "pneumo/pipeline/cache.hpp"

namespace fs = std::filesystem;

namespace pneumo {

fs::path default_cache_dir(const fs::path& dicom_dir) {
  std::error_code ec;
  fs::path folder = fs::weakly_canonical(fs::absolute(dicom_dir, ec), ec).lexically_normal();
  if (folder.filename().empty()) folder = folder.parent_path();  // "DATA/" and "DATA" share a cache
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const fs::path root = xdg && *xdg ? fs::path(xdg) : fs::path(home && *home ? home : "/tmp") / ".cache";
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a of the folder path
  for (unsigned char ch : folder.string()) hash = (hash ^ ch) * 1099511628211ULL;
  return root / "pneumo" / fmt::format("{:016x}", hash);
}

}  // namespace pneumo
