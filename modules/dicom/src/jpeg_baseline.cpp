#include "jpeg_baseline.hpp"

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE

#include <jpeglib.h>

namespace pneumo::detail {
namespace {

struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// libjpeg's default error_exit calls exit(); jump back to decode_jpeg_gray8 instead.
void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Prints nothing; counts warnings (level -1) as libjpeg's default handler does, so that a stream
// that ends early (which libjpeg pads with grey) is reported as corrupt.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) cinfo->err->num_warnings++;
}

}  // namespace

std::optional<JpegFrameHeader> read_jpeg_frame_header(const std::uint8_t* data, std::size_t size) {
  if (data == nullptr || size < 4 || data[0] != 0xFF || data[1] != 0xD8) return std::nullopt;
  std::size_t i = 2;
  while (i + 4 <= size) {
    if (data[i] != 0xFF) return std::nullopt;  // every segment starts with a marker
    while (i < size && data[i] == 0xFF) ++i;  // fill bytes
    if (i >= size) return std::nullopt;
    const int marker = data[i++];
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) continue;  // TEM, RSTn, SOI: no length
    if (marker == 0xD9 || marker == 0xDA) return std::nullopt;           // EOI or a scan before SOF
    if (i + 2 > size) return std::nullopt;
    const std::size_t length = (static_cast<std::size_t>(data[i]) << 8) | data[i + 1];
    if (length < 2 || length > size - i) return std::nullopt;
    const bool sof = (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) ||
                     marker == 0xF7;
    if (sof) {
      if (length < 8) return std::nullopt;
      JpegFrameHeader h;
      h.marker = marker;
      h.precision = data[i + 2];
      h.rows = (data[i + 3] << 8) | data[i + 4];
      h.cols = (data[i + 5] << 8) | data[i + 6];
      h.components = data[i + 7];
      return h;
    }
    i += length;
  }
  return std::nullopt;
}

JpegOutcome decode_jpeg_gray8(const std::uint8_t* data, std::size_t size, int rows, int cols,
                              std::uint8_t* out, int scale_denom) {
  // No object with a destructor may live in this frame across setjmp/longjmp.
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = on_error;
  err.base.emit_message = on_message;
  err.message[0] = '\0';
  const char* problem = nullptr;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return {JpegOutcome::kCorrupt, std::string("corrupt JPEG data: ") + err.message};
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.num_components != 1 || cinfo.data_precision != 8) {
    problem = "not an 8-bit single-component JPEG";
  } else if (static_cast<int>(cinfo.image_height) != rows || static_cast<int>(cinfo.image_width) != cols) {
    problem = "JPEG size differs from Rows/Columns";
  }
  if (problem != nullptr) {
    jpeg_destroy_decompress(&cinfo);
    return {JpegOutcome::kNotHandled, problem};
  }
  cinfo.out_color_space = JCS_GRAYSCALE;
  cinfo.dct_method = JDCT_ISLOW;  // the IJG default DCMTK uses: identical output
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned int>(scale_denom);
  jpeg_calc_output_dimensions(&cinfo);
  const int out_cols = scaled_extent(cols, scale_denom);
  if (static_cast<int>(cinfo.output_height) != scaled_extent(rows, scale_denom) ||
      static_cast<int>(cinfo.output_width) != out_cols) {
    jpeg_destroy_decompress(&cinfo);  // a libjpeg that rounds differently: `out` has the wrong size
    return {JpegOutcome::kNotHandled, "libjpeg's scaled output size differs from the expected one"};
  }
  jpeg_start_decompress(&cinfo);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out + static_cast<std::size_t>(cinfo.output_scanline) * out_cols;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  const long warnings = err.base.num_warnings;
  if (warnings > 0) (*err.base.format_message)(reinterpret_cast<j_common_ptr>(&cinfo), err.message);
  jpeg_destroy_decompress(&cinfo);
  if (warnings > 0) return {JpegOutcome::kCorrupt, std::string("corrupt JPEG data: ") + err.message};
  return {};
}

}  // namespace pneumo::detail
