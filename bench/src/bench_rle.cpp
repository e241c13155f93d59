// bench_rle: decode + re-encode SIIM relative-RLE masks with pneumo::mask_rle, timed.
//
//   bench_rle --csv ../shared/data/siim/train-rle.csv [--select all|positive] [--limit N] [--reps R]
//
// Reads the CSV's EncodedPixels column as text (every row, duplicates included, exactly as
// bench/python/rle_peer.py does), keeps the selected rows, then times: for each row,
// decode_rle(1024x1024) + encode_rle and a comparison of the re-encoding with the input text.
// The count of equal re-encodings is printed, so the figure proves the work was done.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"

namespace {

struct RleRow {
  int line = 0;  // 1-based line in the CSV
  std::string encoded;
};

// Every data row's EncodedPixels field; `positive_only` drops "-1" rows; limit 0 = all.
pneumo::Result<std::vector<RleRow>> load_rows(const std::string& path, bool positive_only,
                                              long long limit) {
  auto text = pneumo::read_file(path);
  if (!text) return text.error();
  std::vector<RleRow> rows;
  int line_no = 0;
  for (std::string_view line : pneumo::split(*text, '\n')) {
    ++line_no;
    if (line_no == 1 || pneumo::trim(line).empty()) continue;  // header "ImageId, EncodedPixels"
    const auto comma = line.find(',');
    if (comma == std::string_view::npos) {
      return pneumo::fail(pneumo::ErrorCode::kBadInput,
                          path + ":" + std::to_string(line_no) + ": expected \"ImageId,EncodedPixels\"");
    }
    std::string encoded(pneumo::trim(line.substr(comma + 1)));
    if (positive_only && encoded == "-1") continue;
    rows.push_back({line_no, std::move(encoded)});
    if (limit > 0 && static_cast<long long>(rows.size()) >= limit) break;
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Times pneumo::mask_rle decode + re-encode over train-rle.csv rows"};
  std::string csv;
  std::string select = "all";
  long long limit = 0;
  int reps = 3;
  app.add_option("--csv", csv, "SIIM train-rle.csv")->required();
  app.add_option("--select", select, "all rows, or positive rows only")
      ->check(CLI::IsMember({"all", "positive"}));
  app.add_option("--limit", limit, "keep the first N selected rows (0 = all)");
  app.add_option("--reps", reps, "timed repetitions (median reported)");
  CLI11_PARSE(app, argc, argv);

  auto rows = load_rows(csv, select == "positive", limit);
  if (!rows) return pneumo::bench::report("bench_rle", rows.error());

  long long reencoded_equal = 0;
  pneumo::Error first_error;
  bool failed = false;
  const auto timing = pneumo::bench::time_reps(reps, [&] {
    reencoded_equal = 0;
    for (const RleRow& row : *rows) {
      auto mask = pneumo::decode_rle(row.encoded, /*rows=*/1024, /*cols=*/1024,
                                     pneumo::RleFormat::kRelative);
      if (!mask) {
        if (!failed) {
          first_error = mask.error();
          first_error.message = csv + ":" + std::to_string(row.line) + ": " + first_error.message;
          failed = true;
        }
        continue;
      }
      if (pneumo::encode_rle(*mask, pneumo::RleFormat::kRelative) == row.encoded) ++reencoded_equal;
    }
  });
  if (failed) return pneumo::bench::report("bench_rle", first_error);

  long long positive = 0;
  for (const RleRow& row : *rows) positive += row.encoded != "-1";
  const auto n = static_cast<long long>(rows->size());
  auto out = pneumo::bench::result_json(timing, n, "rows");
  out["check"] = {{"rows", n}, {"positive_rows", positive}, {"reencoded_equal", reencoded_equal}};
  out["ok"] = reencoded_equal == n;
  return pneumo::bench::emit(out);
}
