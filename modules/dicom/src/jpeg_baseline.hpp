// Private to the dicom module: 8-bit grayscale JPEG (baseline/extended, Huffman) decoding with the
// system libjpeg-turbo, used for SIIM's JPEG Baseline frames because it is several times faster
// than DCMTK's bundled IJG 6b decoder. Its ISLOW IDCT is bit-exact with IJG 6b, so both decoders
// give the same pixels (dicom_reader_test compares them on the real SIIM files).
//
// With scale_denom 2, 4 or 8 libjpeg scales in the DCT domain: each 8x8 block goes through a
// 4x4, 2x2 or 1x1 inverse DCT of its lowest frequencies, so the image comes out already reduced
// and the IDCT does a fraction of the work (the Huffman decoding stays the same). This is what
// OpenCV's IMREAD_REDUCED_GRAYSCALE_2/4/8 does with the same library.
// Thread-safe: no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace pneumo::detail {

struct JpegOutcome {
  enum Kind { kOk, kNotHandled, kCorrupt } kind = kOk;
  std::string message;  // why, when not kOk
};

// The side length libjpeg produces for `extent` pixels scaled by 1/scale_denom (rounded up).
constexpr int scaled_extent(int extent, int scale_denom) { return (extent + scale_denom - 1) / scale_denom; }

// Decodes `size` bytes of one JPEG stream of rows x cols pixels into `out`, row-major, at
// 1/scale_denom of that size: scaled_extent(rows, d) * scaled_extent(cols, d) bytes.
// requires: scale_denom is 1, 2, 4 or 8; `out` holds that many bytes.
// kNotHandled: not an 8-bit single-component stream of that size (let DCMTK try);
// kCorrupt: libjpeg raised an error or a warning (e.g. premature end of data), which IJG would
// otherwise paper over with grey rows.
// The frame header (SOFn, or JPEG-LS SOF55) of a JPEG / JPEG-LS stream, read without decoding
// anything: what the stream will decode to, so that a header can be checked against Rows/Columns
// before a single pixel buffer is allocated.
struct JpegFrameHeader {
  int marker = 0;     // 0xC0..0xCF (not C4, C8, CC) or 0xF7 (JPEG-LS)
  int precision = 0;  // bits per sample
  int rows = 0;       // 0: defined later by a DNL marker (not supported by pneumo)
  int cols = 0;
  int components = 0;
};

// Walks the marker segments from SOI up to the first SOF; nullopt when the bytes do not start
// with SOI, a segment runs past the end, or a scan (SOS) comes before any frame header.
std::optional<JpegFrameHeader> read_jpeg_frame_header(const std::uint8_t* data, std::size_t size);

JpegOutcome decode_jpeg_gray8(const std::uint8_t* data, std::size_t size, int rows, int cols,
                              std::uint8_t* out, int scale_denom = 1);

}  // namespace pneumo::detail
