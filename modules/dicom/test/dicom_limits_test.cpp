// Untrusted DICOM bytes: the in-memory readers agree with the file readers, and size bombs (a
// header that claims far more pixels than the data holds) fail with a clear error before any
// large allocation. Memory is measured two ways: the growth of the process's peak RSS
// (getrusage), which a 4 GB zero-filled image would blow through, and the largest single
// allocation (operator new is replaced in this test binary, which also sees DCMTK's `new
// (std::nothrow) Uint8[n]`), which catches an allocation that is never touched.
#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "pneumo/core/files.hpp"
#include "pneumo/dicom/dicom.hpp"

// --- the largest single allocation, process-wide -------------------------------------------------
namespace {
std::atomic<std::size_t> g_largest_allocation{0};
void* counted_alloc(std::size_t n) {
  std::size_t seen = g_largest_allocation.load();
  while (n > seen && !g_largest_allocation.compare_exchange_weak(seen, n)) {
  }
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace
void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace fs = std::filesystem;
using pneumo::DicomEncoding;
using pneumo::DicomMeta;
using pneumo::DicomReadLimits;
using pneumo::ErrorCode;
using pneumo::Image8;

namespace {

const fs::path kShared = PNEUMO_SHARED_DATA;
constexpr long kMaxGrowthKb = 200 * 1024;  // 200 MB

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("pneumo_dicom_limits_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

long peak_rss_kb() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

DicomMeta meta_for(int rows, int cols) {
  DicomMeta m;
  m.sop_instance_uid = "1.2.826.0.1.3680043.10.999.501";
  m.study_instance_uid = "1.2.826.0.1.3680043.10.999.502";
  m.series_instance_uid = "1.2.826.0.1.3680043.10.999.503";
  m.patient_id = "limits-test";
  m.modality = "CR";
  m.rows = rows;
  m.cols = cols;
  m.pixel_spacing_row_mm = 0.143;
  m.pixel_spacing_col_mm = 0.143;
  return m;
}

Image8 noise(int rows, int cols, unsigned seed) {
  std::mt19937 rng(seed);
  Image8 img(rows, cols);
  for (auto& v : img.px) v = static_cast<std::uint8_t>(rng() & 0xff);
  return img;
}

fs::path write_small(const std::string& name, DicomEncoding encoding) {
  const fs::path p = temp_dir() / name;
  auto st = pneumo::write_dicom(p, meta_for(48, 64), noise(48, 64, 7), encoding);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
  return p;
}

// A copy of `source` whose Rows and Columns say `rows` x `cols`; the pixel data is kept as it is
// (what `dcmodify -m "(0028,0010)=65535" -m "(0028,0011)=65535"` does).
fs::path with_size(const fs::path& source, int rows, int cols, const std::string& name) {
  DcmFileFormat f;
  EXPECT_TRUE(f.loadFile(OFFilename(source.c_str())).good());
  f.getDataset()->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(rows));
  f.getDataset()->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(cols));
  const fs::path out = temp_dir() / name;
  EXPECT_TRUE(f.saveFile(OFFilename(out.c_str()), EXS_Unknown).good());
  return out;
}

std::string bytes_of(const fs::path& p) {
  auto b = pneumo::read_file(p);
  EXPECT_TRUE(b.ok());
  return b.ok() ? b.value() : std::string();
}

void expect_error(const pneumo::Result<pneumo::DicomImage>& r, ErrorCode code, const std::string& part1,
                  const std::string& part2 = "") {
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << part1 << "'";
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(part1), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find(part2), std::string::npos) << r.error().message;
}

TEST(DicomFromMemory, EqualsTheFileReaders) {
  for (auto encoding : {DicomEncoding::kJpegBaseline, DicomEncoding::kExplicitLittleEndian}) {
    const fs::path p = write_small(encoding == DicomEncoding::kJpegBaseline ? "jpeg.dcm" : "raw.dcm", encoding);
    const std::string bytes = bytes_of(p);
    auto from_file = pneumo::read_dicom(p);
    auto from_memory = pneumo::read_dicom_from_memory(bytes, "upload");
    ASSERT_TRUE(from_file.ok()) << from_file.error().message;
    ASSERT_TRUE(from_memory.ok()) << from_memory.error().message;
    EXPECT_EQ(from_memory->image, from_file->image);
    EXPECT_EQ(from_memory->meta.sop_instance_uid, "1.2.826.0.1.3680043.10.999.501");
    EXPECT_EQ(from_memory->meta.transfer_syntax_uid, from_file->meta.transfer_syntax_uid);
    EXPECT_EQ(from_memory->image.rows, 48);
    if (encoding == DicomEncoding::kExplicitLittleEndian) EXPECT_EQ(from_memory->image, noise(48, 64, 7));

    auto meta = pneumo::read_dicom_meta_from_memory(bytes, "upload");
    ASSERT_TRUE(meta.ok()) << meta.error().message;
    EXPECT_EQ(meta->cols, 64);
    EXPECT_EQ(meta->pixel_spacing_row_mm, 0.143);

    auto small_file = pneumo::read_dicom_resized(p, 24, 32);
    auto small_memory = pneumo::read_dicom_resized_from_memory(
        reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "upload", 24, 32);
    ASSERT_TRUE(small_memory.ok()) << small_memory.error().message;
    EXPECT_EQ(small_memory->image, small_file->image);
    EXPECT_EQ(small_memory->image.rows, 24);
  }
}

TEST(DicomFromMemory, ErrorsNameTheBuffer) {
  auto empty = pneumo::read_dicom_from_memory(nullptr, 0, "request 17");
  expect_error(empty, ErrorCode::kBadInput, "request 17: empty");
  auto png = pneumo::read_dicom_from_memory(std::string_view("\x89PNG\r\n\x1a\n0000000000000000"), "request 18");
  expect_error(png, ErrorCode::kBadInput, "request 18: not a DICOM file");
  // Every truncation of a real file is an error, never a crash or a partial image.
  const std::string bytes = bytes_of(write_small("trunc.dcm", DicomEncoding::kJpegBaseline));
  for (std::size_t n : {std::size_t{132}, std::size_t{200}, bytes.size() / 2, bytes.size() - 100, bytes.size() - 1}) {
    SCOPED_TRACE(n);
    auto r = pneumo::read_dicom_from_memory(std::string_view(bytes).substr(0, n), "cut");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message.rfind("cut: ", 0), 0u) << r.error().message;
  }
  auto bad_target = pneumo::read_dicom_resized_from_memory(
      reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "t", 0, 5);
  expect_error(bad_target, ErrorCode::kInvalidArgument, "t: target size 0x5");
}

TEST(DicomLimits, HeaderClaiming65535SquaredIsRefusedBeforeAllocating) {
  const fs::path jpeg = with_size(write_small("bomb-src.dcm", DicomEncoding::kJpegBaseline), 65535, 65535,
                                  "bomb-jpeg.dcm");
  const fs::path raw = with_size(write_small("bomb-raw-src.dcm", DicomEncoding::kExplicitLittleEndian), 65535,
                                 65535, "bomb-raw.dcm");
  const long before = peak_rss_kb();
  // Default limits: more than 16384 per side.
  expect_error(pneumo::read_dicom(jpeg), ErrorCode::kUnsupported, "65535 x 65535", "limit of 16384");
  expect_error(pneumo::read_dicom_resized(jpeg, 256, 256), ErrorCode::kUnsupported, "65535 x 65535");
  expect_error(pneumo::read_dicom_from_memory(bytes_of(jpeg), "bomb"), ErrorCode::kUnsupported, "bomb: Rows x Columns");
  // Limits lifted: the data itself still cannot fill the image.
  const DicomReadLimits none{.max_side = 65535, .max_pixels = std::int64_t{1} << 40};
  expect_error(pneumo::read_dicom(jpeg, none), ErrorCode::kBadInput, "JPEG frame is 48 x 64", "65535 x 65535");
  expect_error(pneumo::read_dicom_from_memory(bytes_of(jpeg), "bomb", none), ErrorCode::kBadInput,
               "JPEG frame is 48 x 64");
  expect_error(pneumo::read_dicom(raw, none), ErrorCode::kBadInput, "has 3072 bytes, expected 4294836225");
  expect_error(pneumo::read_dicom_from_memory(bytes_of(raw), "bomb", none), ErrorCode::kBadInput, "has 3072 bytes");
  const long growth = peak_rss_kb() - before;
  EXPECT_LT(growth, kMaxGrowthKb) << "peak RSS grew by " << growth / 1024 << " MB";
}

TEST(DicomLimits, ConfigurableAndExact) {
  const fs::path p = write_small("limits.dcm", DicomEncoding::kJpegBaseline);
  EXPECT_TRUE(pneumo::read_dicom(p, {.max_side = 64, .max_pixels = 48 * 64}).ok());
  expect_error(pneumo::read_dicom(p, {.max_side = 63, .max_pixels = 48 * 64}), ErrorCode::kUnsupported,
               "limit of 63 per side");
  expect_error(pneumo::read_dicom(p, {.max_side = 64, .max_pixels = 48 * 64 - 1}), ErrorCode::kUnsupported,
               "3072 pixels, more than the limit of 3071");
  // The meta readers decode nothing and need no limits.
  EXPECT_TRUE(pneumo::read_dicom_meta(with_size(p, 65535, 65535, "meta-only.dcm")).ok());
}

TEST(DicomLimits, PixelDataLongerThanTheInputIsRefused) {
  // An uncompressed PixelData whose length field claims ~2 GB in a file of a few KB.
  std::string bytes = bytes_of(write_small("long.dcm", DicomEncoding::kExplicitLittleEndian));
  const std::string tag("\xe0\x7f\x10\x00OW\x00\x00", 8);
  std::size_t at = bytes.rfind(tag);
  if (at == std::string::npos) at = bytes.rfind(std::string("\xe0\x7f\x10\x00OB\x00\x00", 8));
  ASSERT_NE(at, std::string::npos);
  const std::uint32_t huge = 0x7ffffff0u;
  for (int i = 0; i < 4; ++i) bytes[at + 8 + i] = static_cast<char>((huge >> (8 * i)) & 0xff);
  const fs::path p = temp_dir() / "long-patched.dcm";
  ASSERT_TRUE(pneumo::write_file_atomic(p, bytes).ok());
  const long before = peak_rss_kb();
  auto from_memory = pneumo::read_dicom_from_memory(bytes, "long");
  auto from_file = pneumo::read_dicom(p);
  EXPECT_FALSE(from_memory.ok());
  EXPECT_FALSE(from_file.ok());
  if (!from_file.ok()) EXPECT_EQ(from_file.error().code, ErrorCode::kBadInput) << from_file.error().message;
  const long growth = peak_rss_kb() - before;
  EXPECT_LT(growth, kMaxGrowthKb) << "peak RSS grew by " << growth / 1024 << " MB";
}

// Regression inputs from fuzzing (fuzz/corpus/dicom/regress-*): a PixelData or private OB element
// declaring gigabytes in a file of a few hundred bytes, plain and inside a deflated data set.
// DCMTK allocates what a header declares when it loads a value; read_dicom*_from_memory used to
// parse through DcmInputBufferStream, which loads every value at once (libFuzzer: malloc of
// 3587098560 bytes). Now long values are loaded lazily from memory as from files, every declared
// length is checked against the input first, and deflated data sets are inflated (bounded) and
// checked before DCMTK reads them.
TEST(DicomLimits, DeclaredGigabytesAreNeverAllocated) {
  const fs::path corpus = fs::path(PNEUMO_SOURCE_DIR) / "fuzz/corpus/dicom";
  for (const char* name : {"regress-declared-3.5gb-pixeldata.dcm", "regress-declared-huge-private-ob.dcm",
                           "regress-deflated-declared-3.5gb.dcm"}) {
    SCOPED_TRACE(name);
    const fs::path p = corpus / name;
    ASSERT_TRUE(fs::exists(p)) << p;
    const std::string bytes = bytes_of(p);
    g_largest_allocation = 0;
    auto from_memory = pneumo::read_dicom_from_memory(bytes, name);
    auto meta_from_memory = pneumo::read_dicom_meta_from_memory(bytes, name);
    auto from_file = pneumo::read_dicom(p);
    auto resized = pneumo::read_dicom_resized(p, 8, 8);
    const std::size_t largest = g_largest_allocation.load();
    EXPECT_LT(largest, std::size_t{200} << 20) << "largest single allocation " << largest << " bytes";
    ASSERT_FALSE(from_memory.ok());
    ASSERT_FALSE(from_file.ok());
    ASSERT_FALSE(resized.ok());
    EXPECT_EQ(from_memory.error().code, ErrorCode::kBadInput) << from_memory.error().message;
    EXPECT_EQ(from_file.error().code, ErrorCode::kBadInput) << from_file.error().message;
    // Either the parser meets the end of the bytes inside the value, or the declared length is
    // refused afterwards: both before any value is loaded.
    const std::string& why = from_memory.error().message;
    EXPECT_TRUE(why.find("declares") != std::string::npos || why.find("truncated") != std::string::npos) << why;
    EXPECT_EQ(from_memory.error().message.rfind(std::string(name) + ": ", 0), 0u) << from_memory.error().message;
    (void)meta_from_memory;  // may succeed (the header before PixelData is fine); must not allocate
  }
}

TEST(DicomLimits, RealSiimFileWith65535Squared) {
  const fs::path dir = kShared / "siim/dicom";
  if (!fs::is_directory(dir)) GTEST_SKIP() << "real data not found at " << dir << " - skipping";
  const fs::path real = dir / "1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878027.dcm";
  ASSERT_TRUE(fs::exists(real)) << real;
  const fs::path bomb = with_size(real, 65535, 65535, "siim-bomb.dcm");
  const long before = peak_rss_kb();
  expect_error(pneumo::read_dicom(bomb), ErrorCode::kUnsupported, "65535 x 65535");
  const DicomReadLimits none{.max_side = 65535, .max_pixels = std::int64_t{1} << 40};
  expect_error(pneumo::read_dicom(bomb, none), ErrorCode::kBadInput, "JPEG frame is 1024 x 1024");
  expect_error(pneumo::read_dicom_resized(bomb, 512, 512, none), ErrorCode::kBadInput, "JPEG frame is 1024 x 1024");
  const long growth = peak_rss_kb() - before;
  EXPECT_LT(growth, kMaxGrowthKb) << "peak RSS grew by " << growth / 1024 << " MB";
  // The untouched file reads the same from memory as from disk.
  auto a = pneumo::read_dicom(real);
  auto b = pneumo::read_dicom_from_memory(bytes_of(real), real.filename().string());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->image, b->image);
  EXPECT_EQ(a->meta.pixel_spacing_row_mm, b->meta.pixel_spacing_row_mm);
}

}  // namespace
