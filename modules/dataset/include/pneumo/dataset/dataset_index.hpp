// The dataset index: the label CSV joined with folders of DICOMs (and plain PNG/JPEG images),
// plus everything that does not fit (orphan labels, unlabelled or unreadable files, duplicates,
// non-frontal or non-chest images), so that training and statistics start from one checked list.
//
//   pneumo::IndexOptions opt;
//   opt.threads = 8;
//   auto index = pneumo::build_dataset_index("train-rle.csv", {"dicom-1k/", "jpg-positive/"}, opt);
//   if (!index) { std::cerr << index.error().message << "\n"; }   // only the CSV can fail it
//   for (const auto& e : index->images)
//     if (const ImageLabel* l = index->label_of(e)) use(e.path, l->positive());
//
// DICOMs are matched by the SOPInstanceUID read from each file, never the file name: SIIM names
// files after the UID, but renamed copies exist in the wild and a name can lie. A PNG or JPEG has
// no header, so its file stem is its ImageId (SIIM exports are named `<ImageId>.jpg`); its
// metadata (sex, age, view, modality, spacing) is unknown, which is not a problem.
// A DICOM that cannot be read is recorded in `unreadable_files` and the scan goes on.
//
// Thread-safety: build_dataset_index uses `threads` workers internally and may itself be called
// from several threads; a DatasetIndex is a plain value, immutable once built.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/mask_rle/label_csv.hpp"

namespace pneumo {

struct IndexOptions {
  int threads = 0;         // 0 = all cores
  bool progress = true;    // progress bar on stderr while scanning DICOMs
  LabelCsvOptions labels;  // RLE format and mask size of the label CSV
};

// One readable DICOM or plain image file.
struct IndexedImage {
  std::filesystem::path path;
  DicomMeta meta;                          // meta.patient_id: never log or write it
  bool has_dicom_header = true;            // false: PNG/JPEG; meta holds only the id (stem) and size
  std::optional<std::size_t> label_index;  // into DatasetIndex::labels.images; nullopt = unlabelled
  bool duplicate = false;  // an earlier file (in path order) has the same SOPInstanceUID
  const std::string& image_id() const { return meta.sop_instance_uid; }
};

struct UnreadableFile {
  std::filesystem::path path;
  std::string error;  // one line, from the DICOM reader
};

struct DuplicateImage {
  std::string image_id;                       // the shared SOPInstanceUID
  std::vector<std::filesystem::path> paths;   // every file carrying it, in path order
};

struct DatasetIndex {
  std::filesystem::path csv_path;
  std::vector<std::filesystem::path> data_dirs;  // empty: labels only, no image section
  LabelCsvOptions label_options;
  LabelTable labels;
  std::vector<IndexedImage> images;  // one per readable file, in data_dirs order, sorted by path within each

  // Problems. Indices point into `images`; ids are SOPInstanceUIDs; all lists are sorted.
  // The per-image lists skip duplicate files (reported once, under duplicate_images).
  std::vector<std::string> orphan_labels;     // label rows with no DICOM (empty without dicom_dir)
  std::vector<std::size_t> unlabeled_images;  // DICOMs whose UID has no label row
  std::vector<UnreadableFile> unreadable_files;
  std::vector<DuplicateImage> duplicate_images;
  std::vector<std::size_t> non_frontal;     // see is_frontal_view
  std::vector<std::size_t> non_chest;       // see non_chest_reason
  std::vector<std::size_t> size_mismatch;   // labelled, but rows x cols differ from the mask size

  bool has_dicoms() const { return !data_dirs.empty(); }
  // The data folders joined with ", " (for reports).
  std::string data_dirs_text() const;
  const ImageLabel* label_of(const IndexedImage& image) const;
  // Labelled, readable and not a duplicate: the images a model can train on.
  std::vector<std::size_t> matched_images() const;
};

// Builds the index. Only an unreadable or malformed label CSV, or a missing data folder, is an
// error; every per-file problem is recorded in the index instead.
// Images are the files ending in .dcm, .png, .jpg or .jpeg (any case) under each data folder,
// recursively. The same ImageId in two files (even in two folders) is a duplicate: the first
// file, in data_dirs order, is kept.
Result<DatasetIndex> build_dataset_index(const std::filesystem::path& csv_path,
                                         const std::vector<std::filesystem::path>& data_dirs,
                                         const IndexOptions& options);
// One folder, or none (labels only).
Result<DatasetIndex> build_dataset_index(const std::filesystem::path& csv_path,
                                         const std::optional<std::filesystem::path>& dicom_dir,
                                         const IndexOptions& options);

// Same, from an already-read label table (tests, and callers that parsed the CSV themselves).
Result<DatasetIndex> build_dataset_index(LabelTable labels, const LabelCsvOptions& label_options,
                                         const std::vector<std::filesystem::path>& data_dirs,
                                         const IndexOptions& options);
Result<DatasetIndex> build_dataset_index(LabelTable labels, const LabelCsvOptions& label_options,
                                         const std::optional<std::filesystem::path>& dicom_dir,
                                         const IndexOptions& options);

// Frontal = ViewPosition PA or AP. An absent ViewPosition counts as frontal (unknown, and many
// exporters drop it); anything else (LL, RL, LATERAL, ...) is non-frontal.
bool is_frontal_view(const DicomMeta& meta);

// Why an image looks like something other than a chest radiograph, or "" if it looks like one:
// BodyPartExamined present and not CHEST/THORAX, or Modality present and not CR/DX (plain
// radiography). Absent tags are not held against an image.
std::string non_chest_reason(const DicomMeta& meta);

// One-line summary: "47 DICOMs, 35 matched (10 positive), 12 unlabelled, 12012 orphan labels".
std::string index_summary(const DatasetIndex& index);
// Multi-line problems summary (counts, and up to `max_examples` ids/paths per problem);
// "no problems" when there are none. Never contains PatientIDs.
std::string index_problems_summary(const DatasetIndex& index, std::size_t max_examples = 3);

}  // namespace pneumo
