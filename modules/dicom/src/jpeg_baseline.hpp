// Private to the dicom module: 8-bit grayscale JPEG (baseline/extended, Huffman) decoding with the
// system libjpeg-turbo, used for SIIM's JPEG Baseline frames because it is several times faster
// than DCMTK's bundled IJG 6b decoder. Its ISLOW IDCT is bit-exact with IJG 6b, so both decoders
// give the same pixels (dicom_reader_test compares them on the real SIIM files).
// Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pneumo::detail {

struct JpegOutcome {
  enum Kind { kOk, kNotHandled, kCorrupt } kind = kOk;
  std::string message;  // why, when not kOk
};

// Decodes `size` bytes of one JPEG stream into `out` (rows*cols bytes, row-major).
// kNotHandled: not an 8-bit single-component stream of that size (let DCMTK try);
// kCorrupt: libjpeg raised an error or a warning (e.g. premature end of data), which IJG would
// otherwise paper over with grey rows.
JpegOutcome decode_jpeg_gray8(const std::uint8_t* data, std::size_t size, int rows, int cols,
                              std::uint8_t* out);

}  // namespace pneumo::detail
