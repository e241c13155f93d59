#include "pneumo/core/exit_codes.hpp"
#include "pneumo/core/image.hpp"
#include "pneumo/core/result.hpp"

#include <algorithm>

namespace pneumo {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kIo: return "i/o error";
    case ErrorCode::kBadInput: return "bad input";
    case ErrorCode::kUnsupported: return "unsupported";
    case ErrorCode::kInternal: return "internal error";
  }
  return "unknown";
}

int exit_code_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return kExitUsage;
    case ErrorCode::kNotFound: return kExitNotFound;
    case ErrorCode::kIo: return kExitIo;
    case ErrorCode::kBadInput: return kExitBadInput;
    case ErrorCode::kUnsupported: return kExitUnsupported;
    case ErrorCode::kInternal: return kExitInternal;
  }
  return kExitInternal;
}

const char* exit_code_help() {
  return "Exit codes:\n"
         "  0  ok\n"
         "  1  internal error (a bug; please report it)\n"
         "  2  usage: bad flags or arguments\n"
         "  3  not found: an input file or directory does not exist\n"
         "  4  i/o: a file cannot be read or written\n"
         "  5  bad input: malformed DICOM, CSV, RLE or image\n"
         "  6  unsupported: valid input pneumo does not handle (JPEG 2000, colour, multi-frame)\n"
         "  7  partial: some inputs failed and were skipped, the rest were processed\n";
}

long long count_nonzero(const Image8& img) {
  return static_cast<long long>(img.px.size()) -
         std::count(img.px.begin(), img.px.end(), std::uint8_t{0});
}

}  // namespace pneumo
