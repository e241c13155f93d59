// stats.json, report.md and the plots of a DatasetStats.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pneumo/core/files.hpp"
#include "pneumo/report/plot.hpp"
#include "pneumo/report/stats.hpp"

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;  // keeps keys in the order written: stable, readable output

namespace pneumo {
namespace {

constexpr const char* kAgeGrouping =
    "CDC (NCHS) standard age groups in years: <1, 1-4, 5-14, 15-24, 25-44, 45-64, 65+; "
    "unknown = PatientAge missing or invalid (e.g. over 130 years)";

// How each problem list is named in stats.json and report.md.
struct ProblemKind {
  const char* key;
  const char* title;
  const char* id_name;
  const char* detail_name;  // nullptr: items are plain ids
  const std::vector<ProblemItem> DatasetStats::*items;
};

const std::vector<ProblemKind>& problem_kinds() {
  static const std::vector<ProblemKind> kinds = {
      {"orphan_labels", "Label rows without a DICOM", "image_id", nullptr, &DatasetStats::orphan_labels},
      {"unlabeled_images", "DICOMs without a label row", "image_id", "path", &DatasetStats::unlabeled_images},
      {"non_frontal_views", "Non-frontal views (ViewPosition not PA/AP)", "image_id", "view_position",
       &DatasetStats::non_frontal_views},
      {"non_chest", "Not a CR/DX chest image", "image_id", "reason", &DatasetStats::non_chest},
      {"unreadable_files", "Unreadable files (skipped)", "path", "error", &DatasetStats::unreadable_files},
      {"duplicate_images", "SOPInstanceUID in more than one file", "image_id", "paths",
       &DatasetStats::duplicate_images},
      {"size_mismatch", "Labelled DICOMs whose size differs from the masks", "image_id", "size",
       &DatasetStats::size_mismatch},
  };
  return kinds;
}

Json summary_json(const std::optional<Summary>& s) {
  if (!s) return nullptr;
  return Json{{"count", s->count}, {"min", s->min}, {"median", s->median}, {"mean", s->mean}, {"max", s->max}};
}

Json counts_json(const std::vector<CategoryCount>& counts, bool positive) {
  Json out = Json::object();
  for (const CategoryCount& c : counts) out[c.name] = positive ? c.positive : c.images;
  return out;
}

std::string fmt_number(double v, int decimals = 1) {
  char buf[64];
  if (v == static_cast<double>(static_cast<long long>(v)) && decimals <= 1) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  } else {
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  }
  return buf;
}

std::string percent(long long part, long long whole) {
  if (whole <= 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

// Markdown table cells must not contain '|' or newlines.
std::string cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

void category_table(std::ostringstream& md, const std::string& title, const std::vector<CategoryCount>& counts) {
  md << "\n### " << title << "\n\n| value | images | positive | positive rate |\n|---|---:|---:|---:|\n";
  for (const CategoryCount& c : counts) {
    md << "| " << cell(c.name) << " | " << c.images << " | " << c.positive << " | " << percent(c.positive, c.images)
       << " |\n";
  }
}

void summary_row(std::ostringstream& md, const std::string& name, const std::optional<Summary>& s, int decimals) {
  if (!s) return;
  md << "| " << name << " | " << s->count << " | " << fmt_number(s->min, decimals) << " | "
     << fmt_number(s->median, decimals) << " | " << fmt_number(s->mean, decimals) << " | "
     << fmt_number(s->max, decimals) << " |\n";
}

struct Plot {
  std::string file;  // under plots/
  std::string caption;
};

}  // namespace

std::string stats_to_json(const DatasetStats& s) {
  Json j;
  j["source"] = s.csv_name;
  j["rows"] = s.rows;
  j["duplicate_rows"] = s.duplicate_rows;
  j["images"] = s.images;
  j["positive_images"] = s.positive_images;
  j["negative_images"] = s.negative_images;
  j["masks"] = s.masks;
  j["multi_mask_images"] = s.multi_mask_images;
  j["max_masks_per_image"] = s.max_masks_per_image;
  j["masks_per_image"] = counts_json(s.masks_per_image, false);
  j["mask_area_px"] = summary_json(s.mask_area_px);
  if (s.mask_area_cm2) j["mask_area_cm2"] = summary_json(s.mask_area_cm2);
  if (!s.has_dicoms) return j.dump(2) + "\n";

  j["dicom"] = Json{{"dir", s.dicom_dir},
                    {"files", s.dicom_files},
                    {"plain_image_files", s.plain_image_files},
                    {"matched_images", s.matched_images},
                    {"matched_positive", s.matched_positive}};
  j["sex"] = counts_json(s.sex, false);
  j["age_groups"] = counts_json(s.age_groups, false);
  j["age_grouping"] = kAgeGrouping;
  j["view_position"] = counts_json(s.view_position, false);
  j["modality"] = counts_json(s.modality, false);
  j["body_part"] = counts_json(s.body_part, false);
  j["positive_by"] = Json{{"sex", counts_json(s.sex, true)},
                          {"age_groups", counts_json(s.age_groups, true)},
                          {"view_position", counts_json(s.view_position, true)},
                          {"modality", counts_json(s.modality, true)},
                          {"body_part", counts_json(s.body_part, true)}};
  Json problems = Json::object();
  for (const ProblemKind& kind : problem_kinds()) {
    const auto& items = s.*(kind.items);
    Json list = Json::array();
    for (const ProblemItem& item : items) {
      if (kind.detail_name) list.push_back(Json{{kind.id_name, item.id}, {kind.detail_name, item.detail}});
      else list.push_back(item.id);
    }
    problems[kind.key] = Json{{"count", items.size()}, {"items", std::move(list)}};
  }
  j["problems"] = std::move(problems);
  return j.dump(2) + "\n";
}

Result<ReportFiles> write_stats_report(const fs::path& out_dir, const DatasetStats& s, const ReportOptions& options) {
  ReportFiles files;
  if (auto st = ensure_directory(out_dir); !st) return st.error();
  files.stats_json = out_dir / "stats.json";
  files.report_md = out_dir / "report.md";

  // Plots first, so report.md links only the ones that exist.
  std::vector<Plot> plots;
  if (options.plots && !find_gnuplot()) {
    files.warnings.push_back("gnuplot not found (install gnuplot-nox or set PNEUMO_GNUPLOT): report written without plots");
  } else if (options.plots) {
    const fs::path dir = out_dir / "plots";
    auto add = [&](const std::string& file, const std::string& caption, const Status& st) {
      if (st) {
        plots.push_back({file, caption});
        files.plots.push_back(dir / file);
      } else {
        files.warnings.push_back("plot " + file + " skipped: " + st.error().message);
      }
    };
    auto bars = [&](const std::string& file, const std::string& title, const std::vector<CategoryCount>& counts,
                    const std::string& xlabel) {
      std::vector<std::string> labels;
      std::vector<double> values;
      for (const CategoryCount& c : counts) {
        labels.push_back(c.name);
        values.push_back(static_cast<double>(c.images));
      }
      PlotStyle style;
      style.xlabel = xlabel;
      style.ylabel = "images";
      if (labels.empty()) return;
      add(file, title, plot_bars(dir / file, title, labels, values, style));
    };
    bars("class_balance.png", "Class balance (" + s.csv_name + ")",
         {{"negative", s.negative_images, 0}, {"positive", s.positive_images, s.positive_images}}, "label");
    bars("masks_per_image.png", "Positive images by number of masks", s.masks_per_image, "masks per image");
    if (!s.mask_areas_px.empty()) {
      PlotStyle style;
      style.log_x = true;
      style.xlabel = "mask area, pixels of the label mask (log scale; union of an image's masks)";
      style.ylabel = "positive images";
      add("mask_area_px.png", "Mask area (pixels)",
          plot_histogram(dir / "mask_area_px.png", "Mask area per positive image (pixels)", s.mask_areas_px, 40, style));
    }
    if (!s.mask_areas_cm2.empty()) {
      PlotStyle style;
      style.log_x = true;
      style.xlabel = "mask area, cm^2 (log scale; from PixelSpacing)";
      style.ylabel = "positive images";
      add("mask_area_cm2.png", "Mask area (cm^2)",
          plot_histogram(dir / "mask_area_cm2.png", "Mask area per positive image (cm^2)", s.mask_areas_cm2, 40, style));
    }
    if (s.has_dicoms) {
      bars("sex.png", "Sex (PatientSex)", s.sex, "sex");
      bars("age_groups.png", "Age (CDC age groups, years)", s.age_groups, "age group");
      bars("view_position.png", "View position", s.view_position, "ViewPosition");
      bars("modality.png", "Modality", s.modality, "Modality");
      bars("body_part.png", "Body part examined", s.body_part, "BodyPartExamined");
    }
  }

  if (auto st = write_file_atomic(files.stats_json, stats_to_json(s)); !st) return st.error();

  std::ostringstream md;
  md << "# Dataset report\n\nLabels: `" << s.csv_name << "`";
  if (s.has_dicoms) md << "; DICOMs: `" << s.dicom_dir << "`";
  md << ". Numbers are also in `stats.json`.\n";
  if (!files.warnings.empty()) {
    md << "\n**Warnings**\n\n";
    for (const auto& w : files.warnings) md << "- " << w << "\n";
  }
  md << "\n## Labels\n\n| | count |\n|---|---:|\n"
     << "| rows (header excluded) | " << s.rows << " |\n"
     << "| exact duplicate rows dropped | " << s.duplicate_rows << " |\n"
     << "| images | " << s.images << " |\n"
     << "| positive images | " << s.positive_images << " (" << percent(s.positive_images, s.images) << ") |\n"
     << "| negative images | " << s.negative_images << " |\n"
     << "| masks (non-empty rows) | " << s.masks << " |\n"
     << "| images with 2 or more masks | " << s.multi_mask_images << " |\n"
     << "| most masks on one image | " << s.max_masks_per_image << " |\n";
  md << "\n## Masks per positive image\n\n| masks | images |\n|---|---:|\n";
  for (const CategoryCount& c : s.masks_per_image) md << "| " << c.name << " | " << c.images << " |\n";
  md << "\n## Mask area\n\nArea of the union of each positive image's masks.\n\n"
     << "| unit | images | min | median | mean | max |\n|---|---:|---:|---:|---:|---:|\n";
  summary_row(md, "pixels", s.mask_area_px, 1);
  summary_row(md, "cm²", s.mask_area_cm2, 2);
  if (!s.mask_area_cm2) md << "\ncm² areas need matched DICOMs with PixelSpacing.\n";

  if (s.has_dicoms) {
    md << "\n## DICOM metadata\n\n" << s.dicom_files << " readable images (duplicates counted once";
    if (s.plain_image_files > 0) {
      md << "; " << s.plain_image_files << " of them PNG/JPEG without DICOM tags, counted as 'unknown' in every table";
    }
    md << "), " << s.matched_images << " with a label row (" << s.matched_positive << " positive). "
       << "Counts cover every readable DICOM; 'positive' counts the labelled-positive ones.\n";
    category_table(md, "Sex", s.sex);
    category_table(md, "Age groups", s.age_groups);
    md << "\nAge grouping used: " << kAgeGrouping << ".\n";
    category_table(md, "View position", s.view_position);
    category_table(md, "Modality", s.modality);
    category_table(md, "Body part examined", s.body_part);

    md << "\n## Problems\n\n| problem | count |\n|---|---:|\n";
    for (const ProblemKind& kind : problem_kinds()) md << "| " << kind.title << " | " << (s.*(kind.items)).size() << " |\n";
    constexpr std::size_t kMaxListed = 20;
    for (const ProblemKind& kind : problem_kinds()) {
      const auto& items = s.*(kind.items);
      if (items.empty()) continue;
      md << "\n### " << kind.title << "\n\n";
      for (std::size_t i = 0; i < std::min(items.size(), kMaxListed); ++i) {
        md << "- `" << items[i].id << "`";
        if (!items[i].detail.empty()) md << ": " << items[i].detail;
        md << "\n";
      }
      if (items.size() > kMaxListed) md << "- ... " << items.size() - kMaxListed << " more in stats.json\n";
    }
  } else {
    md << "\nNo DICOM folder given: no metadata or problem sections.\n";
  }

  if (!plots.empty()) {
    md << "\n## Plots\n";
    for (const Plot& p : plots) md << "\n### " << p.caption << "\n\n![" << p.caption << "](plots/" << p.file << ")\n";
  }
  if (auto st = write_file_atomic(files.report_md, md.str()); !st) return st.error();
  return files;
}

}  // namespace pneumo
