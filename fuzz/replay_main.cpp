// A main() for the fuzz harnesses without libFuzzer: runs LLVMFuzzerTestOneInput once on every
// file named on the command line (directories are walked), so a plain or ASan/UBSan build can
// replay the committed corpora as a ctest in seconds. Fails when an argument has no input file
// (a replay of nothing proves nothing); a crash or sanitizer report fails the test by itself.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", p.c_str());
    return -1;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy in its own allocation, as libFuzzer does, so that ASan sees reads past the end.
  std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  long total = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg = argv[i];
    long count = 0;
    if (std::filesystem::is_directory(arg)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::recursive_directory_iterator(arg)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (run_file(f) < 0) return 1;
        ++count;
      }
    } else {
      if (run_file(arg) < 0) return 1;
      count = 1;
    }
    if (count == 0) {
      std::fprintf(stderr, "replay: no input files under %s\n", argv[i]);
      return 1;
    }
    total += count;
  }
  std::printf("replay: %ld input(s), no crash\n", total);
  return total > 0 ? 0 : 1;
}
