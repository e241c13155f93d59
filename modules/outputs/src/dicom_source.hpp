// Internal to the outputs module: what SEG and SC writers take from the source DICOM, and the
// attribute copying/sanitising both share. DCMTK types are fine here (not a public header).
#pragma once

#include <dcmtk/config/osconfig.h>  // must come first

#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcfilefo.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "pneumo/core/files.hpp"  // Bytes
#include "pneumo/core/result.hpp"

namespace pneumo::detail {

struct SourceImage {
  std::unique_ptr<DcmFileFormat> file;  // header only (stops before PixelData)
  std::string sop_class_uid;
  std::string sop_instance_uid;   // as stored; may not be UID-shaped (SIIM "ID_...")
  std::string study_uid;          // effective: the source's, or derived when it has none
  // What references to the source use: its own UIDs when valid, else UIDs derived from its
  // SOPInstanceUID text (documented in dicom_outputs.hpp).
  std::string reference_sop_uid;
  std::string reference_series_uid;
  bool uids_derived = false;      // the source's SOPInstanceUID is not a valid UID
  int rows = 0, cols = 0;
  std::string pixel_spacing;      // "r\c" from PixelSpacing (or ImagerPixelSpacing), "" when absent
  bool lossy = false;             // LossyImageCompression "01" or a lossy transfer syntax
  std::string lossy_method;       // LossyImageCompressionMethod, e.g. "ISO_10918_1"
  std::string lossy_ratio;        // LossyImageCompressionRatio, may be ""
};

// Silences DCMTK's logger once per process (as the dicom module does): our errors are values
// carrying the file name; DCMTK would add "W: ..." lines on stderr for ordinary files.
void quiet_dcmtk_once();

// The source header from the whole file's bytes; `name` (a path or an upload's name) is used in
// messages, and its stem identifies a source without SOPInstanceUID.
Result<SourceImage> load_source(const std::uint8_t* data, std::size_t size, std::string_view name);

// The object as a DICOM file (preamble, meta header with a new meta, data set) in memory: the
// bytes DcmFileFormat::saveFile(..., EET_ExplicitLength, EGL_recalcGL, padding, 0, 0,
// EWM_createNewMeta) writes.
Result<Bytes> save_to_bytes(DcmFileFormat& file, E_TransferSyntax xfer, E_PaddingEncoding padding,
                            const std::string& where);

// The file-path writers on top of the byte ones: reads the source (kNotFound when missing), calls
// `encode` on its bytes, writes the result atomically.
Status write_from_source_file(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                              const std::function<Result<Bytes>(const Bytes& source)>& encode);

// Copies Patient and General Study attributes (and Specific Character Set) from the source into
// `target`, replacing what is there. Type-2 attributes are written empty when missing or invalid;
// PatientAge "38" becomes "038Y", other invalid ages are dropped.
void copy_patient_and_study(DcmItem& source, DcmItem& target, const std::string& study_uid);

// "YYYYMMDDHHMMSS" given or now -> ContentDate/ContentTime and InstanceCreationDate/Time.
Status put_content_date_time(DcmItem& target, const std::optional<std::string>& date_time, const std::string& where);

std::string error_text(const OFCondition& cond);

// Sets `tag` to `value` in `item`; kInternal naming the attribute when DCMTK refuses.
Status put_string(DcmItem& item, const DcmTagKey& tag, const std::string& value, const std::string& where);

}  // namespace pneumo::detail
