// SIIM RLE decode (label files, user-supplied masks). Input: byte 0 and 1 pick the mask size
// (1..64 rows and columns), byte 2 the dialect, the rest is the encoded text.
// Properties: no crash or sanitizer report; a decoded mask holds only 0/1; encode -> decode gives
// the same mask back, in both dialects.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const int rows = 1 + data[0] % 64;
  const int cols = 1 + data[1] % 64;
  const auto format = (data[2] & 1) ? pneumo::RleFormat::kAbsolute : pneumo::RleFormat::kRelative;
  const std::string_view text(reinterpret_cast<const char*>(data + 3), size - 3);
  auto mask = pneumo::decode_rle(text, rows, cols, format);
  if (!mask.ok()) {
    PNEUMO_FUZZ_CHECK(!mask.error().message.empty(), "empty error message");
    return 0;
  }
  PNEUMO_FUZZ_CHECK(mask->rows == rows && mask->cols == cols &&
                        mask->px.size() == static_cast<std::size_t>(rows) * cols,
                    "mask %dx%d", mask->rows, mask->cols);
  for (std::uint8_t v : mask->px) PNEUMO_FUZZ_CHECK(v <= 1, "pixel value %d", v);
  for (auto f : {pneumo::RleFormat::kRelative, pneumo::RleFormat::kAbsolute}) {
    const std::string encoded = pneumo::encode_rle(*mask, f);
    auto back = pneumo::decode_rle(encoded, rows, cols, f);
    PNEUMO_FUZZ_CHECK(back.ok(), "re-decoding '%s' failed: %s", encoded.c_str(),
                      back.ok() ? "" : back.error().message.c_str());
    PNEUMO_FUZZ_CHECK(back.value() == mask.value(), "round trip through '%s' changed the mask", encoded.c_str());
  }
  return 0;
}
