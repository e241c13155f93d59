// Label CSV parse (train-rle.csv and its variants: BOM, CRLF, headers, duplicates), SIIM's
// 1024x1024 relative RLE validated on the way. Properties: no crash or sanitizer report; errors
// name the file; a parsed table is consistent (by_id indexes images, every encoding decodes).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "pneumo/mask_rle/label_csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const pneumo::LabelCsvOptions options;  // relative, 1024 x 1024, validate
  auto table = pneumo::parse_label_csv(text, "fuzz.csv", options);
  if (!table.ok()) {
    PNEUMO_FUZZ_CHECK(table.error().message.rfind("fuzz.csv", 0) == 0, "%s", table.error().message.c_str());
    return 0;
  }
  PNEUMO_FUZZ_CHECK(table->by_id.size() == table->images.size(), "%zu ids for %zu images", table->by_id.size(),
                    table->images.size());
  PNEUMO_FUZZ_CHECK(table->positive_images() + table->negative_images() ==
                        static_cast<long long>(table->images.size()),
                    "positives + negatives != images");
  std::size_t decoded = 0;
  for (const auto& image : table->images) {
    PNEUMO_FUZZ_CHECK(table->find(image.image_id) == &image, "find('%s') is another image", image.image_id.c_str());
    PNEUMO_FUZZ_CHECK(image.lines.size() == image.encodings.size(), "%zu lines for %zu encodings",
                      image.lines.size(), image.encodings.size());
    if (image.positive() && decoded++ < 4) {  // each decode clears a 1 MB mask: a few suffice
      auto mask = pneumo::decode_label_mask(image, options, "fuzz.csv");
      PNEUMO_FUZZ_CHECK(mask.ok(), "validated encoding does not decode: %s",
                        mask.ok() ? "" : mask.error().message.c_str());
    }
  }
  return 0;
}
