#include "pneumo/core/files.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <opencv2/imgcodecs.hpp>
#include <sstream>

#include "pneumo/core/image.hpp"
#include "pneumo/core/strings.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

fs::path temp_path_for(const fs::path& path) {
  static std::atomic<unsigned> counter{0};
  fs::path temp = path;
  temp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  return temp;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

Result<std::string> read_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return fail(ErrorCode::kNotFound, path.string() + ": no such file");
  if (fs::is_directory(path, ec)) return fail(ErrorCode::kInvalidArgument, path.string() + ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIo, path.string() + ": cannot open: " + errno_text());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return fail(ErrorCode::kIo, path.string() + ": read failed");
  return buffer.str();
}

Status write_file_atomic(const std::filesystem::path& path, const Bytes& bytes) {
  return write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Status write_via_temp(const fs::path& path, const std::function<Status(const fs::path& temp)>& write) {
  if (path.has_parent_path()) {
    if (auto st = ensure_directory(path.parent_path()); !st) return st;
  }
  const fs::path temp = temp_path_for(path);
  Status st = write(temp);
  std::error_code ec;
  if (!st) {
    fs::remove(temp, ec);
    return st;
  }
  // No fsync: rename() already guarantees readers see the old or the whole new file, and a
  // per-file fsync made bulk outputs (12k mask PNGs) several times slower.
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    return fail(ErrorCode::kIo, path.string() + ": cannot rename temp file into place: " + ec.message());
  }
  return ok_status();
}

Status write_file_atomic(const fs::path& path, std::string_view bytes) {
  return write_via_temp(path, [&](const fs::path& temp) -> Status {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) return fail(ErrorCode::kIo, path.string() + ": cannot write: " + errno_text());
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return fail(ErrorCode::kIo, path.string() + ": write failed (disk full?)");
    return ok_status();
  });
}

Status ensure_directory(const fs::path& dir) {
  std::error_code ec;
  if (dir.empty() || fs::is_directory(dir, ec)) return ok_status();
  fs::create_directories(dir, ec);
  if (ec) return fail(ErrorCode::kIo, dir.string() + ": cannot create directory: " + ec.message());
  return ok_status();
}

Result<std::vector<fs::path>> list_files(const fs::path& dir, const std::vector<std::string>& exts,
                                         bool recursive) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return fail(ErrorCode::kNotFound, dir.string() + ": no such directory");
  if (!fs::is_directory(dir, ec)) return fail(ErrorCode::kInvalidArgument, dir.string() + ": not a directory");
  std::vector<fs::path> files;
  auto consider = [&](const fs::directory_entry& entry) {
    if (!entry.is_regular_file(ec)) return;
    if (!exts.empty()) {
      const std::string ext = to_lower(entry.path().extension().string());
      if (std::find(exts.begin(), exts.end(), ext) == exts.end()) return;
    }
    files.push_back(entry.path());
  };
  if (recursive) {
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      consider(*it);
    }
  } else {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) consider(*it);
  }
  if (ec) return fail(ErrorCode::kIo, dir.string() + ": cannot list: " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

Result<Bytes> encode_png(const Image8& img) {
  if (img.empty() || img.px.size() != static_cast<std::size_t>(img.rows) * img.cols) {
    return fail(ErrorCode::kInternal, "refusing to encode an empty image as PNG");
  }
  cv::Mat mat(img.rows, img.cols, CV_8UC1, const_cast<std::uint8_t*>(img.px.data()));
  Bytes png;
  if (!cv::imencode(".png", mat, png)) return fail(ErrorCode::kIo, "PNG encoding failed");
  return png;
}

Status write_png(const fs::path& path, const Image8& img) {
  auto png = encode_png(img);
  if (!png) return fail(png.error().code, path.string() + ": " + png.error().message);
  return write_file_atomic(path, *png);
}

Result<Image8> decode_image_gray(const std::uint8_t* data, std::size_t size, std::string_view name_for_errors) {
  cv::Mat mat;
  if (data != nullptr && size > 0 && size <= static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    try {
      mat = cv::imdecode(cv::Mat(1, static_cast<int>(size), CV_8UC1, const_cast<std::uint8_t*>(data)),
                         cv::IMREAD_GRAYSCALE);
    } catch (const cv::Exception&) {
      mat.release();
    }
  }
  if (mat.empty()) return fail(ErrorCode::kBadInput, std::string(name_for_errors) + ": not a readable PNG/JPEG image");
  Image8 img(mat.rows, mat.cols);
  for (int r = 0; r < mat.rows; ++r) std::memcpy(&img.px[static_cast<size_t>(r) * mat.cols], mat.ptr(r), mat.cols);
  return img;
}

Result<Image8> read_png_gray(const fs::path& path) {
  auto bytes = read_file(path);
  if (!bytes) return bytes.error();
  return decode_image_gray(reinterpret_cast<const std::uint8_t*>(bytes->data()), bytes->size(), path.string());
}

}  // namespace pneumo
