// Named process exit codes of the pneumo CLI; `pneumo --help` lists them.
#pragma once

#include "pneumo/core/result.hpp"

namespace pneumo {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,     // a bug; please report
  kExitUsage = 2,        // bad flags or arguments
  kExitNotFound = 3,     // an input file or directory does not exist
  kExitIo = 4,           // cannot read or write a file
  kExitBadInput = 5,     // malformed input: DICOM, CSV, RLE, PNG
  kExitUnsupported = 6,  // valid input pneumo does not handle (e.g. JPEG 2000, colour)
  kExitPartial = 7,      // some inputs failed and were skipped; the rest were processed
};

int exit_code_for(ErrorCode code);
const char* exit_code_help();  // multi-line table for --help

}  // namespace pneumo
