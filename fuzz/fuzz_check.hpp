// Shared by the harnesses: a broken property is a crash libFuzzer records (and the replay test
// fails on), with the reason on stderr.
#pragma once

#include <cstdio>
#include <cstdlib>

#define PNEUMO_FUZZ_CHECK(cond, ...)                                         \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "fuzz property failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                     \
      std::fprintf(stderr, "\n");                                            \
      std::abort();                                                          \
    }                                                                        \
  } while (0)
