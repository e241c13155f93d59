// DICOM from bytes (what an HTTP upload or a C-STORE hands pneumo): header parse, size checks,
// pixel decode (JPEG baseline/extended/lossless, JPEG-LS, RLE, deflate, uncompressed), resize.
// Properties: no crash, no sanitizer report, memory bounded by the default DicomReadLimits; every
// error names the input; a decoded image has the size its header says.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"
#include "pneumo/dicom/dicom.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string kName = "fuzz.dcm";
  auto meta = pneumo::read_dicom_meta_from_memory(data, size, kName);
  if (!meta.ok()) {
    PNEUMO_FUZZ_CHECK(meta.error().message.rfind(kName + ": ", 0) == 0, "%s", meta.error().message.c_str());
  }
  auto full = pneumo::read_dicom_from_memory(data, size, kName);
  if (!full.ok()) {
    PNEUMO_FUZZ_CHECK(full.error().message.rfind(kName + ": ", 0) == 0, "%s", full.error().message.c_str());
    return 0;
  }
  const pneumo::DicomImage& d = full.value();
  const pneumo::DicomReadLimits limits;
  PNEUMO_FUZZ_CHECK(d.image.rows == d.meta.rows && d.image.cols == d.meta.cols, "%dx%d vs header %dx%d",
                    d.image.rows, d.image.cols, d.meta.rows, d.meta.cols);
  PNEUMO_FUZZ_CHECK(d.image.px.size() == static_cast<std::size_t>(d.image.rows) * d.image.cols, "%zu bytes",
                    d.image.px.size());
  PNEUMO_FUZZ_CHECK(d.image.rows <= limits.max_side && d.image.cols <= limits.max_side, "%dx%d", d.image.rows,
                    d.image.cols);
  auto small = pneumo::read_dicom_resized_from_memory(data, size, kName, /*target_rows=*/24, /*target_cols=*/32);
  if (small.ok()) {
    PNEUMO_FUZZ_CHECK(small->image.rows == 24 && small->image.cols == 32 && small->image.px.size() == 24u * 32u,
                      "resized to %dx%d", small->image.rows, small->image.cols);
  } else {
    PNEUMO_FUZZ_CHECK(small.error().message.rfind(kName + ": ", 0) == 0, "%s", small.error().message.c_str());
  }
  return 0;
}
