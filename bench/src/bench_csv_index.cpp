// bench_csv_index: pneumo::read_label_csv (parse + index by ImageId) over train-rle.csv, timed.
//
//   bench_csv_index --csv ../shared/data/siim/train-rle.csv [--validate] [--reps 5]
//
// Each repetition reads the file (page cache warm after one untimed pass) and builds the
// LabelTable: rows grouped by ImageId, exact duplicates dropped and counted. --validate also
// decodes every RLE (pandas, the peer, does not). Prints the same counts as
// bench/python/csv_index_peer.py so the two can be compared.
#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "bench_common.hpp"
#include "pneumo/mask_rle/label_csv.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Times pneumo::read_label_csv over train-rle.csv"};
  std::string csv;
  bool validate = false;
  int reps = 5;
  app.add_option("--csv", csv, "SIIM train-rle.csv")->required();
  app.add_flag("--validate", validate, "decode every RLE while reading");
  app.add_option("--reps", reps, "timed repetitions (median reported)");
  CLI11_PARSE(app, argc, argv);

  pneumo::LabelCsvOptions options;
  options.validate = validate;
  // One table alive at a time, so peak RSS is what one read costs (plus the process baseline).
  std::optional<pneumo::Result<pneumo::LabelTable>> table;
  auto read_once = [&] {
    table.reset();
    table.emplace(pneumo::read_label_csv(csv, options));
  };
  read_once();  // warm-up: page cache
  if (!*table) return pneumo::bench::report("bench_csv_index", table->error());
  const auto timing = pneumo::bench::time_reps(reps, read_once);
  if (!*table) return pneumo::bench::report("bench_csv_index", table->error());
  const pneumo::LabelTable& labels = table->value();

  long long multi_mask = 0;
  for (const auto& image : labels.images) multi_mask += image.mask_count() > 1;
  auto out = pneumo::bench::result_json(timing, labels.rows, "rows");
  out["check"] = {{"rows", labels.rows},
                  {"duplicate_rows", labels.duplicate_rows},
                  {"images", static_cast<long long>(labels.images.size())},
                  {"positive_images", labels.positive_images()},
                  {"negative_images", labels.negative_images()},
                  {"mask_rows", labels.mask_rows()},
                  {"multi_mask_images", multi_mask}};
  out["ok"] = true;
  return pneumo::bench::emit(out);
}
