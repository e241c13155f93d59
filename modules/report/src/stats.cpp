#include "pneumo/report/stats.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/core/strings.hpp"

namespace pneumo {
namespace {

constexpr const char* kMissing = "(missing)";
constexpr const char* kUnknownNoHeader = "unknown";  // PNG/JPEG images carry no DICOM tags

const std::vector<std::string>& age_group_names() {
  static const std::vector<std::string> names = {"<1", "1-4", "5-14", "15-24", "25-44", "45-64", "65+", "unknown"};
  return names;
}

// Counts in a fixed order (`order`, then anything else by count) or by count, then name.
class Tally {
 public:
  void add(const std::string& name, bool positive) {
    auto& c = counts_[name.empty() ? kMissing : name];
    c.images += 1;
    c.positive += positive ? 1 : 0;
  }
  std::vector<CategoryCount> sorted(const std::vector<std::string>& order = {}) const {
    std::vector<CategoryCount> out;
    for (const std::string& name : order) {
      auto it = counts_.find(name);
      out.push_back({name, it == counts_.end() ? 0 : it->second.images, it == counts_.end() ? 0 : it->second.positive});
    }
    std::vector<CategoryCount> rest;
    for (const auto& [name, c] : counts_) {
      if (std::find(order.begin(), order.end(), name) == order.end()) rest.push_back({name, c.images, c.positive});
    }
    std::stable_sort(rest.begin(), rest.end(),
                     [](const CategoryCount& a, const CategoryCount& b) { return a.images > b.images; });
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
  }

 private:
  struct Count {
    long long images = 0;
    long long positive = 0;
  };
  std::map<std::string, Count> counts_;
};

std::string upper_trimmed(std::string_view s) {
  std::string out(trim(s));
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Summary summarize(std::vector<double> values) {
  Summary s;
  s.count = static_cast<long long>(values.size());
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.min = values.front();
  s.max = values.back();
  const std::size_t n = values.size();
  s.median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(n);
  return s;
}

std::string cdc_age_group(std::optional<double> age) {
  if (!age || *age < 0) return "unknown";
  const double a = *age;
  if (a < 1) return "<1";
  if (a < 5) return "1-4";
  if (a < 15) return "5-14";
  if (a < 25) return "15-24";
  if (a < 45) return "25-44";
  if (a < 65) return "45-64";
  return "65+";
}

Result<DatasetStats> compute_stats(const DatasetIndex& index, const StatsOptions& options) {
  DatasetStats s;
  const LabelTable& labels = index.labels;
  s.csv_name = index.csv_path.filename().string();
  s.rows = labels.rows;
  s.duplicate_rows = labels.duplicate_rows;
  s.images = static_cast<long long>(labels.images.size());
  s.positive_images = labels.positive_images();
  s.negative_images = labels.negative_images();
  s.masks = labels.mask_rows();
  long long one = 0, two = 0, more = 0;
  for (const ImageLabel& l : labels.images) {
    const int n = l.mask_count();
    s.max_masks_per_image = std::max(s.max_masks_per_image, n);
    if (n >= 2) s.multi_mask_images += 1;
    if (n == 1) one += 1;
    else if (n == 2) two += 1;
    else if (n >= 3) more += 1;
  }
  s.masks_per_image = {{"1", one, one}, {"2", two, two}, {"3+", more, more}};

  // Mask areas: decode each positive image's union, in parallel, into its own slot.
  std::vector<std::size_t> positives;
  for (std::size_t i = 0; i < labels.images.size(); ++i) {
    if (labels.images[i].positive()) positives.push_back(i);
  }
  std::vector<double> areas(positives.size(), 0);
  std::vector<std::optional<Error>> errors(positives.size());
  {
    Progress bar("mask areas", static_cast<long long>(positives.size()), options.progress);
    const int threads = options.threads > 0 ? options.threads : default_threads();
    parallel_for(positives.size(), threads, [&](std::size_t i) {
      auto mask = decode_label_mask(labels.images[positives[i]], index.label_options, s.csv_name);
      if (mask) areas[i] = static_cast<double>(count_nonzero(*mask));
      else errors[i] = mask.error();
      bar.tick();
    });
    bar.finish();
  }
  for (auto& e : errors) {
    if (e) return *e;
  }
  s.mask_areas_px = areas;
  if (!areas.empty()) s.mask_area_px = summarize(areas);

  if (index.has_dicoms()) {
    s.has_dicoms = true;
    s.dicom_dir = index.data_dirs_text();
    std::map<std::size_t, double> area_of_label;  // label index -> px area
    for (std::size_t i = 0; i < positives.size(); ++i) area_of_label[positives[i]] = areas[i];
    Tally sex, age, view, modality, body;
    for (const IndexedImage& image : index.images) {
      if (image.duplicate) continue;
      s.dicom_files += 1;
      const ImageLabel* label = index.label_of(image);
      const bool positive = label && label->positive();
      if (label) {
        s.matched_images += 1;
        s.matched_positive += positive ? 1 : 0;
      }
      const DicomMeta& m = image.meta;
      if (!image.has_dicom_header) {
        // A PNG/JPEG export: its tags are unknown, which is a fact about the data, not an error.
        s.plain_image_files += 1;
        for (Tally* t : {&sex, &age, &view, &modality, &body}) t->add(kUnknownNoHeader, positive);
        continue;
      }
      sex.add(upper_trimmed(m.sex), positive);
      age.add(cdc_age_group(m.age_years), positive);
      view.add(upper_trimmed(m.view_position), positive);
      modality.add(upper_trimmed(m.modality), positive);
      body.add(upper_trimmed(m.body_part), positive);
      if (positive && m.pixel_spacing_row_mm && m.pixel_spacing_col_mm && m.rows > 0 && m.cols > 0) {
        // A mask pixel covers (image rows / mask rows) image pixels vertically, likewise across.
        const double row_mm = *m.pixel_spacing_row_mm * m.rows / index.label_options.rows;
        const double col_mm = *m.pixel_spacing_col_mm * m.cols / index.label_options.cols;
        s.mask_areas_cm2.push_back(area_of_label.at(*image.label_index) * row_mm * col_mm / 100.0);
      }
    }
    s.sex = sex.sorted();
    s.age_groups = age.sorted(age_group_names());
    s.view_position = view.sorted();
    s.modality = modality.sorted();
    s.body_part = body.sorted();
    if (!s.mask_areas_cm2.empty()) s.mask_area_cm2 = summarize(s.mask_areas_cm2);

    for (const std::string& id : index.orphan_labels) s.orphan_labels.push_back({id, ""});
    for (std::size_t i : index.unlabeled_images) {
      s.unlabeled_images.push_back({index.images[i].image_id(), index.images[i].path.string()});
    }
    for (std::size_t i : index.non_frontal) {
      s.non_frontal_views.push_back({index.images[i].image_id(), index.images[i].meta.view_position});
    }
    for (std::size_t i : index.non_chest) {
      s.non_chest.push_back({index.images[i].image_id(), non_chest_reason(index.images[i].meta)});
    }
    for (const UnreadableFile& f : index.unreadable_files) s.unreadable_files.push_back({f.path.string(), f.error});
    for (const DuplicateImage& d : index.duplicate_images) {
      std::string paths;
      for (const auto& p : d.paths) paths += (paths.empty() ? "" : "; ") + p.string();
      s.duplicate_images.push_back({d.image_id, paths});
    }
    for (std::size_t i : index.size_mismatch) {
      const DicomMeta& m = index.images[i].meta;
      s.size_mismatch.push_back({index.images[i].image_id(), std::to_string(m.rows) + "x" + std::to_string(m.cols)});
    }
  }
  return s;
}

}  // namespace pneumo
