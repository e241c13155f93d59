// SIIM-ACR pneumothorax mask run-length encoding.
//
// Two dialects, both column-major (pixel index p = col * height + row, i.e. the image is
// transposed before flattening, as in the challenge's mask_functions.py):
//   kRelative — the SIIM train-rle.csv form: pairs (gap, length); the first gap is the 0-based
//               offset of the first run, every later gap counts from the end of the previous run.
//   kAbsolute — the usual Kaggle form: pairs (start, length) with 1-based absolute starts.
// "-1" (or an empty field) is an empty mask.
//
//   pneumo::Mask m(1024, 1024);
//   auto st = pneumo::decode_rle_into("10 5 3 2", m, RleFormat::kRelative);  // union into m
//   std::string s = pneumo::encode_rle(m, RleFormat::kRelative);             // "-1" if empty
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo {

enum class RleFormat { kRelative, kAbsolute };

// Parses "relative" / "absolute" (CLI flag values).
Result<RleFormat> parse_rle_format(std::string_view name);

// Sets the pixels of every run to 1 (union with what `mask` already holds).
// Errors (code kBadInput, message without file context): a non-number, an odd count of values,
// a zero or negative length, a negative gap/start (or 0 start in kAbsolute), a run past the end
// of the mask ("run ends at pixel 1048580, past the end of a 1024x1024 mask"), runs within this
// one encoding that overlap or go backwards.
// A mask that is not rows > 0, cols > 0 with rows*cols bytes is kInvalidArgument (checked in
// every build type, not an assert).
Status decode_rle_into(std::string_view encoded, Mask& mask, RleFormat format);

// A fresh rows x cols mask from one encoding.
Result<Mask> decode_rle(std::string_view encoded, int rows, int cols, RleFormat format);

// Encodes the non-zero pixels of `mask`; "-1" when there are none.
// Throws std::invalid_argument when mask.px.size() != rows*cols (a caller's bug).
std::string encode_rle(const Mask& mask, RleFormat format);

}  // namespace pneumo
