#include "pneumo/dataset/dataset_index.hpp"

#include <algorithm>
#include <cctype>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "pneumo/core/files.hpp"
#include "pneumo/core/image_files.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/core/progress.hpp"
#include "pneumo/core/strings.hpp"

namespace fs = std::filesystem;

namespace pneumo {
namespace {

std::string upper(std::string_view s) {
  std::string out(trim(s));
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<fs::path> as_list(const std::optional<fs::path>& dir) {
  if (!dir) return {};
  return {*dir};
}

// A PNG/JPEG: the stem is the ImageId, the header gives the size; nothing else is known.
Result<DicomMeta> read_plain_image_meta(const fs::path& path) {
  auto size = read_image_size(path);
  if (!size) return size.error();
  DicomMeta meta;
  meta.sop_instance_uid = path.stem().string();
  meta.rows = size->rows;
  meta.cols = size->cols;
  meta.samples_per_pixel = size->channels;
  meta.bits_allocated = meta.bits_stored = 8;
  return meta;
}

// The reader's message already names the file; keep it to one line whatever it says.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

}  // namespace

const ImageLabel* DatasetIndex::label_of(const IndexedImage& image) const {
  if (!image.label_index) return nullptr;
  return &labels.images.at(*image.label_index);
}

std::vector<std::size_t> DatasetIndex::matched_images() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < images.size(); ++i) {
    if (images[i].label_index && !images[i].duplicate) out.push_back(i);
  }
  return out;
}

bool is_frontal_view(const DicomMeta& meta) {
  const std::string view = upper(meta.view_position);
  return view.empty() || view == "PA" || view == "AP";
}

std::string non_chest_reason(const DicomMeta& meta) {
  const std::string body = upper(meta.body_part);
  const std::string modality = upper(meta.modality);
  std::string reason;
  if (!body.empty() && body != "CHEST" && body != "THORAX") reason = "BodyPartExamined " + body;
  if (!modality.empty() && modality != "CR" && modality != "DX") {
    if (!reason.empty()) reason += ", ";
    reason += "Modality " + modality;
  }
  return reason;
}

std::string DatasetIndex::data_dirs_text() const {
  std::string text;
  for (const auto& dir : data_dirs) text += (text.empty() ? "" : ", ") + dir.string();
  return text;
}

Result<DatasetIndex> build_dataset_index(const fs::path& csv_path, const std::vector<fs::path>& data_dirs,
                                         const IndexOptions& options) {
  auto labels = read_label_csv(csv_path, options.labels);
  if (!labels) return labels.error();
  auto index = build_dataset_index(std::move(labels.value()), options.labels, data_dirs, options);
  if (index) index->csv_path = csv_path;
  return index;
}

Result<DatasetIndex> build_dataset_index(const fs::path& csv_path, const std::optional<fs::path>& dicom_dir,
                                         const IndexOptions& options) {
  return build_dataset_index(csv_path, as_list(dicom_dir), options);
}

Result<DatasetIndex> build_dataset_index(LabelTable labels, const LabelCsvOptions& label_options,
                                         const std::optional<fs::path>& dicom_dir, const IndexOptions& options) {
  return build_dataset_index(std::move(labels), label_options, as_list(dicom_dir), options);
}

Result<DatasetIndex> build_dataset_index(LabelTable labels, const LabelCsvOptions& label_options,
                                         const std::vector<fs::path>& data_dirs, const IndexOptions& options) {
  DatasetIndex index;
  index.csv_path = labels.source;
  index.label_options = label_options;
  index.labels = std::move(labels);
  index.data_dirs = data_dirs;
  if (data_dirs.empty()) return index;

  std::vector<std::string> extensions{".dcm"};
  for (const auto& ext : plain_image_extensions()) extensions.push_back(ext);
  std::vector<fs::path> files;
  for (const auto& dir : data_dirs) {
    auto listed = list_files(dir, extensions);
    if (!listed) return listed.error();
    files.insert(files.end(), listed->begin(), listed->end());
  }

  // Header-only reads, in parallel; results land in path order so the index is deterministic.
  std::vector<std::optional<Result<DicomMeta>>> metas(files.size());
  {
    Progress bar("index", static_cast<long long>(files.size()), options.progress);
    const int threads = options.threads > 0 ? options.threads : default_threads();
    parallel_for(files.size(), threads, [&](std::size_t i) {
      metas[i].emplace(is_plain_image_file(files[i]) ? read_plain_image_meta(files[i]) : read_dicom_meta(files[i]));
      bar.tick();
    });
    bar.finish();
  }

  std::unordered_map<std::string, std::size_t> first_with_uid;  // uid -> index into images
  std::unordered_map<std::string, std::size_t> duplicate_slot;  // uid -> index into duplicate_images
  for (std::size_t i = 0; i < files.size(); ++i) {
    const fs::path& path = files[i];
    Result<DicomMeta>& meta = *metas[i];
    if (!meta) {
      index.unreadable_files.push_back({path, one_line(meta.error().message)});
      continue;
    }
    if (std::string(trim(meta->sop_instance_uid)).empty()) {
      index.unreadable_files.push_back({path, path.string() + ": no SOPInstanceUID (0008,0018), cannot match a label"});
      continue;
    }
    IndexedImage image;
    image.path = path;
    image.has_dicom_header = !is_plain_image_file(path);
    image.meta = std::move(meta.value());
    image.meta.sop_instance_uid = std::string(trim(image.meta.sop_instance_uid));
    const std::string& uid = image.meta.sop_instance_uid;
    if (auto it = index.labels.by_id.find(uid); it != index.labels.by_id.end()) image.label_index = it->second;

    const std::size_t pos = index.images.size();
    auto [first, inserted] = first_with_uid.emplace(uid, pos);
    if (!inserted) {
      image.duplicate = true;
      auto [slot, fresh] = duplicate_slot.emplace(uid, index.duplicate_images.size());
      if (fresh) index.duplicate_images.push_back({uid, {index.images[first->second].path}});
      index.duplicate_images[slot->second].paths.push_back(path);
    }
    index.images.push_back(std::move(image));
  }

  for (std::size_t i = 0; i < index.images.size(); ++i) {
    const IndexedImage& image = index.images[i];
    if (image.duplicate) continue;
    if (!image.label_index) index.unlabeled_images.push_back(i);
    if (!is_frontal_view(image.meta)) index.non_frontal.push_back(i);
    if (!non_chest_reason(image.meta).empty()) index.non_chest.push_back(i);
    if (image.label_index && (image.meta.rows != label_options.rows || image.meta.cols != label_options.cols)) {
      index.size_mismatch.push_back(i);
    }
  }
  for (const ImageLabel& label : index.labels.images) {
    if (!first_with_uid.contains(label.image_id)) index.orphan_labels.push_back(label.image_id);
  }
  std::sort(index.orphan_labels.begin(), index.orphan_labels.end());
  std::sort(index.duplicate_images.begin(), index.duplicate_images.end(),
            [](const DuplicateImage& a, const DuplicateImage& b) { return a.image_id < b.image_id; });
  return index;
}

std::string index_summary(const DatasetIndex& index) {
  std::ostringstream out;
  const long long positives = index.labels.positive_images();
  if (!index.has_dicoms()) {
    out << index.labels.images.size() << " labelled images (" << positives << " positive, "
        << index.labels.negative_images() << " negative) from " << index.labels.rows << " rows; no DICOM folder";
    return out.str();
  }
  const auto matched = index.matched_images();
  long long matched_positive = 0;
  for (std::size_t i : matched) matched_positive += index.label_of(index.images[i])->positive() ? 1 : 0;
  const auto plain = std::count_if(index.images.begin(), index.images.end(),
                                   [](const IndexedImage& image) { return !image.has_dicom_header; });
  out << index.images.size() - plain << " DICOMs, ";
  if (plain > 0) out << plain << " PNG/JPEG images, ";
  out << matched.size() << " matched (" << matched_positive << " positive), "
      << index.unlabeled_images.size() << " unlabelled, " << index.orphan_labels.size() << " orphan labels, "
      << index.unreadable_files.size() << " unreadable";
  return out.str();
}

std::string index_problems_summary(const DatasetIndex& index, std::size_t max_examples) {
  std::ostringstream out;
  auto list = [&](const std::string& name, std::size_t count, const std::string& what,
                  const std::function<std::string(std::size_t)>& example) {
    if (count == 0) return;
    out << "  " << name << ": " << count << " " << what;
    for (std::size_t i = 0; i < std::min(count, max_examples); ++i) out << (i == 0 ? " (e.g. " : ", ") << example(i);
    if (max_examples > 0) out << (count > max_examples ? ", ...)" : ")");
    out << "\n";
  };
  auto path_of = [&](std::size_t image) { return index.images[image].path.filename().string(); };
  list("orphan labels", index.orphan_labels.size(), "label rows without an image file",
       [&](std::size_t i) { return index.orphan_labels[i]; });
  list("unlabelled images", index.unlabeled_images.size(), "image files without a label row",
       [&](std::size_t i) { return path_of(index.unlabeled_images[i]); });
  list("unreadable files", index.unreadable_files.size(), "skipped",
       [&](std::size_t i) { return index.unreadable_files[i].error; });
  list("duplicate images", index.duplicate_images.size(), "SOPInstanceUIDs in more than one file",
       [&](std::size_t i) { return index.duplicate_images[i].image_id; });
  list("non-frontal views", index.non_frontal.size(), "not PA/AP",
       [&](std::size_t i) { return path_of(index.non_frontal[i]) + " [" + index.images[index.non_frontal[i]].meta.view_position + "]"; });
  list("non-chest images", index.non_chest.size(), "not a CR/DX chest image",
       [&](std::size_t i) { return path_of(index.non_chest[i]) + " [" + non_chest_reason(index.images[index.non_chest[i]].meta) + "]"; });
  list("size mismatches", index.size_mismatch.size(),
       "labelled DICOMs whose size differs from the " + std::to_string(index.label_options.rows) + "x" +
           std::to_string(index.label_options.cols) + " masks",
       [&](std::size_t i) {
         const auto& m = index.images[index.size_mismatch[i]].meta;
         return path_of(index.size_mismatch[i]) + " [" + std::to_string(m.rows) + "x" + std::to_string(m.cols) + "]";
       });
  if (index.labels.duplicate_rows > 0) {
    out << "  duplicate label rows: " << index.labels.duplicate_rows << " exact duplicates dropped\n";
  }
  std::string text = out.str();
  if (text.empty()) return "no problems\n";
  return "problems:\n" + text;
}

}  // namespace pneumo
