// Shared by the SEG and SC writers: loading the source header, deterministic UIDs, copying the
// patient/study attributes with sanitising, content date/time.
#include "dicom_source.hpp"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcwcache.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <dcmtk/oflog/oflog.h>

#include <cctype>
#include <mutex>
#include <chrono>
#include <ctime>
#include <system_error>

#include "pneumo/dicom/vr.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"

namespace pneumo {

// is_valid_uid lives with the other VR rules in the dicom module (pneumo/dicom/vr.hpp).

std::string uid_from_text(std::string_view text) {
  // FNV-1a, 128-bit variant (offset basis and prime from the FNV reference).
  using u128 = unsigned __int128;
  const u128 prime = (static_cast<u128>(0x0000000001000000ULL) << 64) | 0x000000000000013BULL;
  u128 hash = (static_cast<u128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= prime;
  }
  if (hash == 0) hash = 1;
  std::string digits;
  while (hash != 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(hash % 10)));
    hash /= 10;
  }
  return "2.25." + digits;
}

namespace detail {
namespace {

std::string get_string(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).good()) return std::string(value.c_str());
  return "";
}

}  // namespace

std::string error_text(const OFCondition& cond) { return std::string(cond.text()); }

void quiet_dcmtk_once() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::getLogger("dcmtk").setLogLevel(OFLogger::FATAL_LOG_LEVEL); });
}

Result<SourceImage> load_source(const std::uint8_t* data, std::size_t size, std::string_view name) {
  quiet_dcmtk_once();
  const std::filesystem::path path{std::string(name)};
  SourceImage s;
  s.file = std::make_unique<DcmFileFormat>();
  OFCondition cond = EC_InvalidStream;
  if (data != nullptr && size > 0) {
    DcmInputBufferStream in;
    in.setBuffer(data, static_cast<offile_off_t>(size));
    in.setEos();
    s.file->transferInit();
    cond = s.file->readUntilTag(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, DCM_PixelData);
    s.file->transferEnd();
  }
  if (cond.bad()) {
    return fail(ErrorCode::kBadInput, path.string() + ": cannot read the source DICOM: " + error_text(cond));
  }
  DcmDataset& ds = *s.file->getDataset();
  s.sop_class_uid = get_string(ds, DCM_SOPClassUID);
  s.sop_instance_uid = get_string(ds, DCM_SOPInstanceUID);
  // No SOPInstanceUID (a broken file, type 1 is required): identify it by its file name, as
  // `pneumo predict` does for its ImageId; the UIDs are then derived from that.
  if (s.sop_instance_uid.empty()) s.sop_instance_uid = path.stem().string();
  Uint16 rows = 0, cols = 0;
  if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, cols).bad() || rows == 0 ||
      cols == 0) {
    return fail(ErrorCode::kBadInput, path.string() + ": source DICOM has no Rows/Columns");
  }
  s.rows = rows;
  s.cols = cols;
  const std::string study = get_string(ds, DCM_StudyInstanceUID);
  s.study_uid = is_valid_uid(study) ? study : uid_from_text("pneumo/study/" + s.sop_instance_uid);
  if (!is_valid_uid(s.sop_class_uid)) {
    return fail(ErrorCode::kBadInput, path.string() + ": source SOPClassUID '" + s.sop_class_uid +
                                          "' is not a DICOM UID; cannot reference the source");
  }
  s.uids_derived = !is_valid_uid(s.sop_instance_uid);
  s.reference_sop_uid =
      s.uids_derived ? uid_from_text("pneumo/source/" + s.sop_instance_uid) : s.sop_instance_uid;
  const std::string series = get_string(ds, DCM_SeriesInstanceUID);
  s.reference_series_uid =
      is_valid_uid(series) ? series : uid_from_text("pneumo/source-series/" + s.sop_instance_uid);
  // Real files carry DS values longer than DS allows (SIIM: "0.14300000000000002"): re-format
  // them to at most 16 characters ("0.143"); a spacing that is not a number is left out.
  s.pixel_spacing = get_string(ds, DCM_PixelSpacing);
  if (s.pixel_spacing.empty()) s.pixel_spacing = get_string(ds, DCM_ImagerPixelSpacing);
  if (!s.pixel_spacing.empty()) {
    auto spacing = normalise_decimal_string(s.pixel_spacing);
    s.pixel_spacing = spacing ? spacing.value() : std::string();
  }
  const DcmXfer xfer(ds.getOriginalXfer());
  s.lossy = get_string(ds, DCM_LossyImageCompression) == "01" || (xfer.isEncapsulated() && xfer.isLossy());
  s.lossy_method = get_string(ds, DCM_LossyImageCompressionMethod);
  if (!check_vr_value("CS", s.lossy_method)) s.lossy_method.clear();
  s.lossy_ratio = get_string(ds, DCM_LossyImageCompressionRatio);
  if (!s.lossy_ratio.empty()) {
    auto ratio = normalise_decimal_string(s.lossy_ratio);
    s.lossy_ratio = ratio ? ratio.value() : std::string();
  }
  if (s.lossy && s.lossy_method.empty() && xfer.getXfer() == EXS_JPEGProcess1) s.lossy_method = "ISO_10918_1";
  return s;
}

Result<Bytes> save_to_bytes(DcmFileFormat& file, E_TransferSyntax xfer, E_PaddingEncoding padding,
                            const std::string& where) {
  Bytes out;
  std::vector<Uint8> chunk(256 * 1024);
  DcmOutputBufferStream stream(chunk.data(), static_cast<offile_off_t>(chunk.size()));
  DcmWriteCache cache;
  auto drain = [&] {
    void* buffer = nullptr;
    offile_off_t length = 0;
    stream.flushBuffer(buffer, length);
    if (buffer != nullptr && length > 0) {
      out.insert(out.end(), static_cast<Uint8*>(buffer), static_cast<Uint8*>(buffer) + length);
    }
  };
  file.transferInit();
  OFCondition cond = EC_StreamNotifyClient;
  while (cond == EC_StreamNotifyClient) {
    cond = file.write(stream, xfer, EET_ExplicitLength, &cache, EGL_recalcGL, padding, 0, 0, 0, EWM_createNewMeta);
    if (cond == EC_Normal) stream.flush();
    if (cond.good() || cond == EC_StreamNotifyClient) drain();
  }
  file.transferEnd();
  if (cond.bad()) return fail(ErrorCode::kInternal, where + "cannot encode the DICOM object: " + error_text(cond));
  return out;
}

Status write_from_source_file(const std::filesystem::path& path, const std::filesystem::path& source_dicom,
                              const std::function<Result<Bytes>(const Bytes& source)>& encode) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(source_dicom, ec)) {
    return fail(ErrorCode::kNotFound, source_dicom.string() + ": source DICOM does not exist");
  }
  auto text = read_file(source_dicom);
  if (!text) return text.error();
  const Bytes source(text->begin(), text->end());
  auto bytes = encode(source);
  if (!bytes) return bytes.error();
  return write_file_atomic(path, *bytes);
}

void copy_patient_and_study(DcmItem& source, DcmItem& target, const std::string& study_uid) {
  // Type 2 in the Patient and General Study modules: present, possibly empty.
  const DcmTagKey type2[] = {DCM_PatientName,    DCM_PatientID,  DCM_PatientBirthDate,      DCM_PatientSex,
                             DCM_StudyDate,      DCM_StudyTime,  DCM_ReferringPhysicianName, DCM_StudyID,
                             DCM_AccessionNumber};
  const DcmTagKey type3[] = {DCM_StudyDescription, DCM_IssuerOfPatientID};

  auto copy_checked = [&](const DcmTagKey& tag, bool keep_empty) {
    target.findAndDeleteElement(tag);
    DcmElement* elem = nullptr;
    if (source.findAndGetElement(tag, elem).good() && elem != nullptr) {
      DcmElement* copy = OFstatic_cast(DcmElement*, elem->clone());
      // Invalid values (wrong VR format, too long) would make the output fail validation:
      // DCMTK's own check and pneumo's VR rules (pneumo/dicom/vr.hpp) must both pass.
      OFString text;
      const bool valid = copy->getOFStringArray(text).good() &&
                         check_vr_value(DcmVR(copy->getVR()).getVRName(), std::string_view(text.c_str(), text.length())).ok();
      if ((copy->checkValue("1-n").good() && valid) || copy->getLength() == 0) {
        if (copy->getLength() > 0 || keep_empty) {
          target.insert(copy, /*replaceOld=*/OFTrue);
          return;
        }
      }
      delete copy;
    }
    if (keep_empty) target.insertEmptyElement(tag, OFTrue);
  };
  for (const auto& tag : type2) copy_checked(tag, /*keep_empty=*/true);
  for (const auto& tag : type3) copy_checked(tag, /*keep_empty=*/false);

  target.findAndDeleteElement(DCM_PatientAge);
  const std::string age = normalise_age_string(get_string(source, DCM_PatientAge));
  if (!age.empty()) target.putAndInsertString(DCM_PatientAge, age.c_str());

  const std::string charset = get_string(source, DCM_SpecificCharacterSet);
  target.findAndDeleteElement(DCM_SpecificCharacterSet);
  if (!charset.empty()) target.putAndInsertString(DCM_SpecificCharacterSet, charset.c_str());

  target.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
}

Status put_content_date_time(DcmItem& target, const std::optional<std::string>& date_time,
                             const std::string& where) {
  std::string dt;
  if (date_time) {
    dt = *date_time;
    bool ok = dt.size() == 14;
    for (char c : dt) ok = ok && std::isdigit(static_cast<unsigned char>(c));
    if (!ok) {
      return fail(ErrorCode::kInvalidArgument, where + "content date/time must be YYYYMMDDHHMMSS, got '" + dt + "'");
    }
  } else {
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
    dt = buf;
  }
  const std::string date = dt.substr(0, 8), time = dt.substr(8);
  target.putAndInsertString(DCM_ContentDate, date.c_str());
  target.putAndInsertString(DCM_ContentTime, time.c_str());
  target.putAndInsertString(DCM_InstanceCreationDate, date.c_str());
  target.putAndInsertString(DCM_InstanceCreationTime, time.c_str());
  return ok_status();
}

Status put_string(DcmItem& item, const DcmTagKey& tag, const std::string& value, const std::string& where) {
  OFCondition cond = item.putAndInsertString(tag, value.c_str());
  if (cond.bad()) {
    return fail(ErrorCode::kInternal, where + "cannot set " + DcmTag(tag).getTagName() + ": " + error_text(cond));
  }
  return ok_status();
}

}  // namespace detail
}  // namespace pneumo
