#include "pneumo/mask_rle/label_csv.hpp"

#include <algorithm>
#include <cctype>

#include "pneumo/core/files.hpp"
#include "run_parser.hpp"

namespace pneumo {
namespace {

using rle_detail::trim_blanks;

constexpr std::string_view kBom = "\xEF\xBB\xBF";

std::string where(std::string_view source, long long line) {
  return std::string(source) + ":" + std::to_string(line) + ": ";
}

// A header row names its columns ("EncodedPixels", "mask"); a data row's second field is "-1",
// empty, or digits. A digit anywhere means data, so a corrupt first row is reported, not skipped.
bool looks_like_header(std::string_view second_field) {
  bool letters = false;
  for (char c : second_field) {
    if (std::isdigit(static_cast<unsigned char>(c))) return false;
    if (std::isalpha(static_cast<unsigned char>(c))) letters = true;
  }
  return letters;
}

}  // namespace

const ImageLabel* LabelTable::find(std::string_view image_id) const {
  auto it = by_id.find(std::string(image_id));
  return it == by_id.end() ? nullptr : &images[it->second];
}

long long LabelTable::positive_images() const {
  return std::count_if(images.begin(), images.end(), [](const ImageLabel& l) { return l.positive(); });
}

long long LabelTable::negative_images() const {
  return static_cast<long long>(images.size()) - positive_images();
}

long long LabelTable::mask_rows() const {
  long long n = 0;
  for (const ImageLabel& l : images) n += l.mask_count();
  return n;
}

Result<LabelTable> parse_label_csv(std::string_view text, std::string_view source_name,
                                   const LabelCsvOptions& options) {
  if (options.rows <= 0 || options.cols <= 0) {
    return fail(ErrorCode::kInvalidArgument,
                "mask size " + rle_detail::mask_size_text(options.rows, options.cols) + " is not positive");
  }
  LabelTable table;
  table.source = std::string(source_name);
  if (text.substr(0, kBom.size()) == kBom) text.remove_prefix(kBom.size());

  bool first_content_line = true;
  long long line_number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view raw = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_number;
    const std::string_view line = trim_blanks(raw);
    if (line.empty()) continue;  // blank lines (a trailing newline, a blank last line) carry nothing

    const std::size_t comma = line.find(',');
    if (comma == std::string_view::npos) {
      return fail(ErrorCode::kBadInput, where(source_name, line_number) +
                                            "expected 'ImageId,EncodedPixels', found no comma");
    }
    const std::string_view image_id = trim_blanks(line.substr(0, comma));
    const std::string_view encoded = trim_blanks(line.substr(comma + 1));
    if (encoded.find(',') != std::string_view::npos) {
      return fail(ErrorCode::kBadInput, where(source_name, line_number) +
                                            "expected 2 fields 'ImageId,EncodedPixels', found more commas");
    }
    if (first_content_line) {
      first_content_line = false;
      if (looks_like_header(encoded)) {
        table.had_header = true;
        continue;
      }
    }
    if (image_id.empty()) {
      return fail(ErrorCode::kBadInput, where(source_name, line_number) + "empty ImageId");
    }
    ++table.rows;

    const bool negative = rle_detail::is_empty_encoding(encoded);
    if (!negative && options.validate) {
      auto st = rle_detail::for_each_run(encoded, options.rows, options.cols, options.format,
                                         [](std::int64_t, std::int64_t) {});
      if (!st) {
        return fail(st.error().code,
                    where(source_name, line_number) + "EncodedPixels: " + st.error().message);
      }
    }

    auto [it, inserted] = table.by_id.try_emplace(std::string(image_id), table.images.size());
    if (inserted) {
      ImageLabel label;
      label.image_id = std::string(image_id);
      label.first_line = static_cast<int>(line_number);
      table.images.push_back(std::move(label));
    }
    ImageLabel& label = table.images[it->second];
    bool duplicate = false;
    if (negative) {
      duplicate = label.has_negative_row;
      label.has_negative_row = true;
    } else {
      duplicate = std::find(label.encodings.begin(), label.encodings.end(), encoded) != label.encodings.end();
      if (!duplicate) {
        label.encodings.emplace_back(encoded);
        label.lines.push_back(static_cast<int>(line_number));
      }
    }
    if (duplicate) {
      ++label.duplicate_rows;
      ++table.duplicate_rows;
    }
  }
  return table;
}

Result<LabelTable> read_label_csv(const std::filesystem::path& path, const LabelCsvOptions& options) {
  auto text = read_file(path);
  if (!text) return text.error();
  return parse_label_csv(*text, path.string(), options);  // the path as the user gave it
}

Result<Mask> decode_label_mask(const ImageLabel& label, const LabelCsvOptions& options,
                               std::string_view source_name) {
  if (options.rows <= 0 || options.cols <= 0) {
    return fail(ErrorCode::kInvalidArgument,
                "mask size " + rle_detail::mask_size_text(options.rows, options.cols) + " is not positive");
  }
  Mask mask(options.rows, options.cols);
  for (std::size_t i = 0; i < label.encodings.size(); ++i) {
    if (auto st = decode_rle_into(label.encodings[i], mask, options.format); !st) {
      const int line = i < label.lines.size() ? label.lines[i] : label.first_line;
      return fail(st.error().code, where(source_name, line) + "EncodedPixels: " + st.error().message);
    }
  }
  return mask;
}

std::string format_label_csv(const std::vector<LabelCsvRow>& rows) {
  std::size_t bytes = 32;
  for (const LabelCsvRow& r : rows) bytes += r.image_id.size() + r.encoded.size() + 2;
  std::string out;
  out.reserve(bytes);
  out += "ImageId,EncodedPixels\n";
  for (const LabelCsvRow& r : rows) {
    out += r.image_id;
    out += ',';
    out += r.encoded.empty() ? std::string_view("-1") : std::string_view(r.encoded);
    out += '\n';
  }
  return out;
}

Status write_label_csv(const std::filesystem::path& path, const std::vector<LabelCsvRow>& rows) {
  for (const LabelCsvRow& r : rows) {
    if (r.image_id.empty() || r.image_id.find_first_of(",\r\n") != std::string::npos ||
        r.encoded.find_first_of(",\r\n") != std::string::npos) {
      return fail(ErrorCode::kInvalidArgument,
                  path.string() + ": an ImageId or EncodedPixels field is empty or holds a comma or newline");
    }
  }
  return write_file_atomic(path, format_label_csv(rows));
}

}  // namespace pneumo
