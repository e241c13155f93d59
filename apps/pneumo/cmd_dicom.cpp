// pneumo dicom info PATH... [--json] [--decode]
//
// Prints the metadata of DICOM files (files, or directories scanned recursively: every regular
// file in them is tried, so a stray PNG shows up as a bad file). Bad files are reported one line
// each on stderr and the scan goes on. The PatientID is never printed, only whether it is present.
// Exit code: 0 when every file was read; the file's own code when a single file was given and it
// is bad; kExitPartial (7) when some of several failed.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "command.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/dicom/dicom.hpp"

namespace pneumo::cli {
namespace {

namespace fs = std::filesystem;

struct InfoOptions {
  std::vector<std::string> paths;
  bool json = false;
  bool decode = false;  // also decode the pixels, to find files that parse but do not decode
};

// One input file and what reading it gave.
struct Entry {
  fs::path file;
  std::optional<Result<DicomMeta>> meta;  // set once processed
};

std::string optional_text(const std::optional<double>& v, const char* unit = "") {
  if (!v) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g%s", *v, unit);
  return buf;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

void print_text(const fs::path& file, const DicomMeta& m) {
  std::printf("%s\n", file.string().c_str());
  auto line = [](const char* key, const std::string& value) {
    std::printf("  %-20s %s\n", key, value.c_str());
  };
  line("sop_instance_uid", or_dash(m.sop_instance_uid));
  line("sop_class_uid", or_dash(m.sop_class_uid));
  line("study_instance_uid", or_dash(m.study_instance_uid));
  line("series_instance_uid", or_dash(m.series_instance_uid));
  line("patient_id", m.patient_id.empty() ? "<absent>" : "<present>");
  line("sex", or_dash(m.sex));
  line("age", m.age_years ? optional_text(m.age_years, " y") + " (" + m.age_text + ")"
                          : (m.age_text.empty() ? "-" : "invalid (" + m.age_text + ")"));
  line("view_position", or_dash(m.view_position));
  line("modality", or_dash(m.modality));
  line("body_part", or_dash(m.body_part));
  line("study_description", or_dash(m.study_description));
  line("pixel_spacing_mm", m.pixel_spacing_row_mm ? optional_text(m.pixel_spacing_row_mm) + " x " +
                                                        optional_text(m.pixel_spacing_col_mm)
                                                  : "-");
  line("size", std::to_string(m.rows) + " x " + std::to_string(m.cols) + " (rows x cols), " +
                   std::to_string(m.frames) + " frame(s), " + std::to_string(m.samples_per_pixel) +
                   " sample(s)/pixel");
  line("bits", std::to_string(m.bits_stored) + " stored / " + std::to_string(m.bits_allocated) + " allocated");
  line("photometric", or_dash(m.photometric));
  line("transfer_syntax", m.transfer_syntax_name + " (" + m.transfer_syntax_uid + ")");
}

nlohmann::json to_json(const fs::path& file, const DicomMeta& m) {
  auto optional_number = [](const std::optional<double>& v) -> nlohmann::json {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  nlohmann::json spacing = nullptr;
  if (m.pixel_spacing_row_mm && m.pixel_spacing_col_mm) {
    spacing = nlohmann::json::array({*m.pixel_spacing_row_mm, *m.pixel_spacing_col_mm});
  }
  // patient_id deliberately omitted: it identifies a person.
  return {
      {"file", file.string()},
      {"sop_instance_uid", m.sop_instance_uid},
      {"sop_class_uid", m.sop_class_uid},
      {"study_instance_uid", m.study_instance_uid},
      {"series_instance_uid", m.series_instance_uid},
      {"patient_id_present", !m.patient_id.empty()},
      {"sex", m.sex},
      {"age_years", optional_number(m.age_years)},
      {"age_text", m.age_text},
      {"view_position", m.view_position},
      {"modality", m.modality},
      {"body_part", m.body_part},
      {"study_description", m.study_description},
      {"pixel_spacing_mm", spacing},
      {"rows", m.rows},
      {"cols", m.cols},
      {"frames", m.frames},
      {"samples_per_pixel", m.samples_per_pixel},
      {"bits_allocated", m.bits_allocated},
      {"bits_stored", m.bits_stored},
      {"photometric", m.photometric},
      {"transfer_syntax_uid", m.transfer_syntax_uid},
      {"transfer_syntax_name", m.transfer_syntax_name},
  };
}

int run_info(const InfoOptions& opt) {
  std::vector<Entry> entries;
  std::vector<Error> input_errors;  // paths that do not exist, directories with no files
  bool single_file_given = opt.paths.size() == 1;
  for (const std::string& text : opt.paths) {
    const fs::path path(text);
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      single_file_given = false;
      auto files = list_files(path, /*exts=*/{}, /*recursive=*/true);
      if (!files) {
        input_errors.push_back(files.error());
        continue;
      }
      if (files->empty()) {
        input_errors.push_back(fail(ErrorCode::kNotFound, path.string() + ": no files in directory"));
        continue;
      }
      for (auto& f : *files) entries.push_back(Entry{std::move(f), std::nullopt});
    } else if (fs::exists(path, ec)) {
      entries.push_back(Entry{path, std::nullopt});
    } else {
      input_errors.push_back(fail(ErrorCode::kNotFound, path.string() + ": no such file or directory"));
    }
  }

  Progress progress("dicom info", static_cast<long long>(entries.size()),
                    /*enabled=*/!global_options().quiet && entries.size() > 1);
  parallel_for(entries.size(), resolved_threads(), [&](size_t i) {
    Entry& e = entries[i];
    if (opt.decode) {
      auto d = read_dicom(e.file);
      e.meta = d ? Result<DicomMeta>(std::move(d->meta)) : Result<DicomMeta>(d.error());
    } else {
      e.meta = read_dicom_meta(e.file);
    }
    progress.tick();
  });
  progress.finish();

  int last_code = kExitOk;
  int failures = 0;
  for (const Error& err : input_errors) {
    last_code = report_error(err);
    ++failures;
  }
  nlohmann::json array = nlohmann::json::array();
  for (const Entry& e : entries) {
    const Result<DicomMeta>& r = *e.meta;
    if (!r) {
      last_code = report_error(r.error());
      ++failures;
      continue;
    }
    if (opt.json) {
      array.push_back(to_json(e.file, *r));
    } else {
      print_text(e.file, *r);
    }
  }
  if (opt.json) std::printf("%s\n", array.dump(2).c_str());
  std::fflush(stdout);

  if (failures == 0) return kExitOk;
  const size_t inputs = entries.size() + input_errors.size();
  if (single_file_given && inputs == 1) return last_code;
  return kExitPartial;
}

}  // namespace

void add_dicom_command(CLI::App& app, Action& action) {
  CLI::App* dicom = app.add_subcommand("dicom", "Inspect DICOM files");
  dicom->require_subcommand(1);

  auto opt = std::make_shared<InfoOptions>();
  CLI::App* info = dicom->add_subcommand(
      "info", "Print the metadata of DICOM files or of every file under directories (PatientID is "
              "shown only as <present>/<absent>); bad files are reported on stderr");
  info->add_option("paths", opt->paths, "DICOM files or directories (scanned recursively)")->required();
  info->add_flag("--json", opt->json, "Print a JSON array instead of text blocks");
  info->add_flag("--decode", opt->decode, "Also decode the pixels (reports files that do not decode)");
  info->callback([opt, &action] { action = [opt] { return run_info(*opt); }; });
}

}  // namespace pneumo::cli
