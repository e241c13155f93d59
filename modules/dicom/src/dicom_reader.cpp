// DICOM reading with DCMTK: metadata, and pixels to 8-bit grayscale.
//
// Two pixel paths:
//  - 8-bit stored, 8-bit allocated, unsigned, no Modality/VOI transform (every SIIM file): the
//    frame is decoded straight into the Image8 buffer and kept as stored (MONOCHROME1 inverted).
//    JPEG baseline/extended frames go through libjpeg-turbo (jpeg_baseline.cpp), the rest through
//    DCMTK's codecs (getUncompressedFrame), both without an intermediate copy.
//    A window stretch here would change SIIM's values, which the masks and models were made on.
//  - everything else (10/12/16-bit, rescale, VOI window or LUT): DCMTK's DicomImage applies the
//    Modality LUT, then the first VOI window, else the first VOI LUT, else a min-max window, and
//    renders 8 bits (MONOCHROME1 inverted by DCMTK's presentation pipeline).
//
// read_dicom_resized adds a target size: a JPEG baseline/extended frame on the first path is
// decoded at 1/2, 1/4 or 1/8 in the DCT domain (the largest reduction that divides the stored
// size and whose result still covers the target), then whatever was decoded is area-resized to the exact target (OpenCV INTER_AREA;
// bilinear when enlarging), as transforms' resize_image does. MONOCHROME1 is inverted before the
// resize, so a non-JPEG file gives exactly read_dicom + resize_image.
#include <dcmtk/config/osconfig.h>  // must come first

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <mutex>
#include <system_error>
#include <vector>

#include "jpeg_baseline.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dicom/dicom.hpp"

namespace pneumo {
namespace {

namespace fs = std::filesystem;

// Registers the decoders and silences DCMTK's own logger, once per process. DCMTK would otherwise
// print "E: ..." lines on stderr for every bad file; our errors are values with the file name.
void init_dcmtk_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    OFLog::getLogger("dcmtk").setLogLevel(OFLogger::FATAL_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

std::string display(const fs::path& path) { return path.string(); }

// Checks existence and the first bytes, so that a PNG or an empty file gets a clear message
// instead of whatever DCMTK makes of it. Accepts "DICM" at byte 128 (Part 10 file) or a dataset
// that starts with a plausible low group number in either byte order (no preamble, e.g. ACR-NEMA
// style or implicit VR files written without meta header).
Status sniff(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    return fail(ErrorCode::kNotFound, display(path) + ": no such file");
  }
  if (!fs::is_regular_file(status)) {
    return fail(ErrorCode::kBadInput, display(path) + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIo, display(path) + ": cannot open for reading");
  std::array<unsigned char, 132> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto got = static_cast<size_t>(in.gcount());
  if (got == 0) return fail(ErrorCode::kBadInput, display(path) + ": empty file (0 bytes), expected DICOM");
  if (got == head.size() && head[128] == 'D' && head[129] == 'I' && head[130] == 'C' &&
      head[131] == 'M') {
    return ok_status();
  }
  if (got >= 8) {
    const unsigned little = head[0] | (head[1] << 8);
    const unsigned big = (head[0] << 8) | head[1];
    auto plausible = [](unsigned group) { return group >= 0x0002 && group <= 0x0030 && group % 2 == 0; };
    if (plausible(little) || plausible(big)) return ok_status();
  }
  return fail(ErrorCode::kBadInput,
              display(path) + ": not a DICOM file (no 'DICM' at byte 128 and no dataset at byte 0)");
}

// Loads the file; with `header_only` parsing stops at PixelData so the pixels are never read.
Status load(const fs::path& path, DcmFileFormat& file, bool header_only) {
  init_dcmtk_once();
  if (auto st = sniff(path); !st) return st;
  const OFFilename name(path.c_str());
  const OFCondition cond =
      header_only ? file.loadFileUntilTag(name, EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                          ERM_autoDetect, DCM_PixelData)
                  : file.loadFile(name, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  if (cond.bad()) {
    return fail(ErrorCode::kBadInput,
                display(path) + ": cannot parse DICOM (" + cond.text() + "); truncated or corrupt?");
  }
  return ok_status();
}

std::string get_string(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return std::string(trim(std::string_view(value.c_str(), value.length())));
}

int get_int(DcmItem& item, const DcmTagKey& tag, int fallback) {
  Uint16 value = 0;
  if (item.findAndGetUint16(tag, value).good()) return value;
  Sint32 signed_value = 0;
  if (item.findAndGetSint32(tag, signed_value).good()) return signed_value;
  return fallback;
}

std::optional<double> get_double(DcmItem& item, const DcmTagKey& tag, unsigned long pos) {
  Float64 value = 0;
  if (item.findAndGetFloat64(tag, value, pos).good()) return value;
  return std::nullopt;
}

std::string normalise_sex(std::string_view raw) {
  std::string s = to_lower(trim(raw));
  if (s.empty()) return "";
  if (s == "m" || s == "male") return "M";
  if (s == "f" || s == "female") return "F";
  return "O";
}

DicomMeta extract_meta(DcmFileFormat& file) {
  DcmDataset& ds = *file.getDataset();
  DicomMeta m;
  m.sop_instance_uid = get_string(ds, DCM_SOPInstanceUID);
  m.sop_class_uid = get_string(ds, DCM_SOPClassUID);
  m.study_instance_uid = get_string(ds, DCM_StudyInstanceUID);
  m.series_instance_uid = get_string(ds, DCM_SeriesInstanceUID);
  m.patient_id = get_string(ds, DCM_PatientID);
  m.sex = normalise_sex(get_string(ds, DCM_PatientSex));
  m.age_text = get_string(ds, DCM_PatientAge);
  m.age_years = parse_patient_age(m.age_text);
  m.view_position = get_string(ds, DCM_ViewPosition);
  m.modality = get_string(ds, DCM_Modality);
  m.body_part = get_string(ds, DCM_BodyPartExamined);
  m.study_description = get_string(ds, DCM_StudyDescription);

  for (const DcmTagKey& tag : {DCM_PixelSpacing, DCM_ImagerPixelSpacing}) {
    auto row = get_double(ds, tag, 0);
    if (!row || !(*row > 0)) continue;
    auto col = get_double(ds, tag, 1);
    m.pixel_spacing_row_mm = row;
    m.pixel_spacing_col_mm = (col && *col > 0) ? col : row;  // one value: square pixels
    break;
  }

  m.rows = get_int(ds, DCM_Rows, 0);
  m.cols = get_int(ds, DCM_Columns, 0);
  m.frames = get_int(ds, DCM_NumberOfFrames, 1);
  m.samples_per_pixel = get_int(ds, DCM_SamplesPerPixel, 1);
  m.bits_allocated = get_int(ds, DCM_BitsAllocated, 0);
  m.bits_stored = get_int(ds, DCM_BitsStored, m.bits_allocated);
  m.photometric = get_string(ds, DCM_PhotometricInterpretation);

  // The meta header names the transfer syntax of the stored file; a file without meta header
  // gets the one DCMTK detected while parsing.
  std::string uid = get_string(*file.getMetaInfo(), DCM_TransferSyntaxUID);
  const DcmXfer xfer = uid.empty() ? DcmXfer(ds.getOriginalXfer()) : DcmXfer(uid.c_str());
  m.transfer_syntax_uid = uid.empty() ? std::string(xfer.getXferID()) : uid;
  m.transfer_syntax_name = xfer.getXfer() == EXS_Unknown ? "Unknown" : xfer.getXferName();
  return m;
}

// The checks shared by both readers: what pneumo can turn into one grayscale image.
Status check_supported(const fs::path& path, const DicomMeta& m) {
  const std::string file = display(path);
  if (m.rows <= 0 || m.cols <= 0) {
    return fail(ErrorCode::kBadInput, file + ": Rows/Columns (0028,0010/0011) missing or zero");
  }
  if (m.frames != 1) {
    return fail(ErrorCode::kUnsupported, file + ": NumberOfFrames (0028,0008) is " +
                                             std::to_string(m.frames) + ", expected a single frame");
  }
  if (m.samples_per_pixel != 1) {
    return fail(ErrorCode::kUnsupported, file + ": SamplesPerPixel (0028,0002) is " +
                                             std::to_string(m.samples_per_pixel) +
                                             ", expected 1 (grayscale); colour is not supported");
  }
  if (m.photometric != "MONOCHROME1" && m.photometric != "MONOCHROME2") {
    return fail(ErrorCode::kUnsupported, file + ": PhotometricInterpretation (0028,0004) is '" +
                                             m.photometric + "', expected MONOCHROME1 or MONOCHROME2");
  }
  if (m.bits_allocated != 8 && m.bits_allocated != 16) {
    return fail(ErrorCode::kUnsupported, file + ": BitsAllocated (0028,0100) is " +
                                             std::to_string(m.bits_allocated) + ", expected 8 or 16");
  }
  return ok_status();
}

bool has_value(DcmItem& item, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  return item.findAndGetElement(tag, element).good() && element != nullptr && element->getLength() > 0;
}

// A Modality or VOI LUT sequence counts only when an item really holds LUT data: some files carry
// empty placeholder items (e.g. the leadtools RLE sample).
bool has_lut(DcmItem& item, const DcmTagKey& sequence_tag) {
  DcmSequenceOfItems* seq = nullptr;
  if (item.findAndGetSequence(sequence_tag, seq).bad() || seq == nullptr) return false;
  for (unsigned long i = 0; i < seq->card(); ++i) {
    if (has_value(*seq->getItem(i), DCM_LUTData)) return true;
  }
  return false;
}

// True when the stored 8-bit values are already the display values (up to MONOCHROME1 inversion).
bool stored_values_are_final(DcmDataset& ds, const DicomMeta& m) {
  if (m.bits_allocated != 8 || m.bits_stored != 8) return false;
  if (get_int(ds, DCM_PixelRepresentation, 0) != 0) return false;
  if (has_value(ds, DCM_WindowCenter) || has_lut(ds, DCM_VOILUTSequence) ||
      has_lut(ds, DCM_ModalityLUTSequence)) {
    return false;
  }
  const double slope = get_double(ds, DCM_RescaleSlope, 0).value_or(1.0);
  const double intercept = get_double(ds, DCM_RescaleIntercept, 0).value_or(0.0);
  return slope == 1.0 && intercept == 0.0;
}

Result<DcmPixelData*> find_pixel_data(const fs::path& path, DcmDataset& ds, const DicomMeta& m) {
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return fail(ErrorCode::kBadInput, display(path) + ": no PixelData (7fe0,0010)");
  }
  auto* pixels = dynamic_cast<DcmPixelData*>(element);
  if (pixels == nullptr) {
    return fail(ErrorCode::kBadInput, display(path) + ": PixelData (7fe0,0010) has an unexpected VR");
  }
  const DcmXfer xfer(ds.getOriginalXfer());
  if (xfer.isEncapsulated()) {
    if (!DcmCodecList::canChangeCoding(xfer.getXfer(), EXS_LittleEndianExplicit)) {
      return fail(ErrorCode::kUnsupported, display(path) + ": cannot decode transfer syntax " +
                                               xfer.getXferName() + " (" + m.transfer_syntax_uid + ")");
    }
    const DcmRepresentationParameter* param = nullptr;
    DcmPixelSequence* fragments = nullptr;
    if (pixels->getEncapsulatedRepresentation(xfer.getXfer(), param, fragments).bad() ||
        fragments == nullptr || fragments->card() < 2) {  // offset table + at least one fragment
      return fail(ErrorCode::kBadInput,
                  display(path) + ": PixelData (7fe0,0010) has no compressed fragments");
    }
  } else {
    const unsigned long expected =
        static_cast<unsigned long>(m.rows) * m.cols * (m.bits_allocated / 8);
    if (pixels->getLength() < expected) {
      return fail(ErrorCode::kBadInput, display(path) + ": PixelData (7fe0,0010) has " +
                                            std::to_string(pixels->getLength()) + " bytes, expected " +
                                            std::to_string(expected) + " (truncated?)");
    }
  }
  return pixels;
}

// The frame's JPEG stream: the one fragment in place, or the fragments joined (single frame, so
// every fragment after the offset table belongs to it). nullptr when there is none.
const Uint8* jpeg_stream(DcmPixelData& pixels, E_TransferSyntax xfer, std::vector<Uint8>& joined,
                         std::size_t& size) {
  const DcmRepresentationParameter* param = nullptr;
  DcmPixelSequence* fragments = nullptr;
  if (pixels.getEncapsulatedRepresentation(xfer, param, fragments).bad() || fragments == nullptr) {
    return nullptr;
  }
  const unsigned long count = fragments->card();
  for (unsigned long i = 1; i < count; ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* bytes = nullptr;
    if (fragments->getItem(item, i).bad() || item->getUint8Array(bytes).bad() || bytes == nullptr) {
      return nullptr;
    }
    if (count == 2) {
      size = item->getLength();
      return bytes;
    }
    joined.insert(joined.end(), bytes, bytes + item->getLength());
  }
  size = joined.size();
  return joined.empty() ? nullptr : joined.data();
}

// The target size of read_dicom_resized; none for read_dicom.
struct Target {
  int rows = 0;
  int cols = 0;
};

// The largest DCT-domain reduction (8, 4, 2, else 1) that still leaves at least target pixels on
// both axes, so that the final resize only ever shrinks (or keeps) what was decoded. The stored
// size must be a multiple of the reduction: libjpeg rounds a partial block up (101 rows -> 51 at
// 1/2, i.e. 102 source rows' worth), which would shift the geometry against an area resize of the
// 101 real rows by up to half a pixel.
int jpeg_scale_denom(const DicomMeta& m, const std::optional<Target>& target) {
  if (!target) return 1;
  for (int denom : {8, 4, 2}) {
    if (m.rows % denom == 0 && m.cols % denom == 0 && detail::scaled_extent(m.rows, denom) >= target->rows &&
        detail::scaled_extent(m.cols, denom) >= target->cols) {
      return denom;
    }
  }
  return 1;
}

// Decodes the stored 8-bit frame into `out`: full size, or smaller (DCT scaling, see
// jpeg_scale_denom) when a target is given and the frame is JPEG baseline/extended.
Status decode_stored_8bit(const fs::path& path, DcmDataset& ds, DcmPixelData& pixels,
                          const DicomMeta& m, const std::optional<Target>& target, Image8& out) {
  bool decoded = false;
  const E_TransferSyntax xfer = ds.getOriginalXfer();
  if (xfer == EXS_JPEGProcess1 || xfer == EXS_JPEGProcess2_4) {
    std::vector<Uint8> joined;
    std::size_t size = 0;
    if (const Uint8* stream = jpeg_stream(pixels, xfer, joined, size)) {
      const int denom = jpeg_scale_denom(m, target);
      out = Image8(detail::scaled_extent(m.rows, denom), detail::scaled_extent(m.cols, denom));
      const auto outcome = detail::decode_jpeg_gray8(stream, size, m.rows, m.cols, out.px.data(), denom);
      if (outcome.kind == detail::JpegOutcome::kCorrupt) {
        return fail(ErrorCode::kBadInput, display(path) + ": cannot decode pixel data (" +
                                              m.transfer_syntax_name + "): " + outcome.message);
      }
      decoded = outcome.kind == detail::JpegOutcome::kOk;
    }
  }
  if (!decoded) {  // DCMTK's decoders (and plain copies for uncompressed data)
    out = Image8(m.rows, m.cols);
    Uint32 start_fragment = 0;
    OFString colour_model;
    const OFCondition cond = pixels.getUncompressedFrame(&ds, /*frameNo=*/0, start_fragment, out.px.data(),
                                                         static_cast<Uint32>(out.px.size()), colour_model);
    if (cond.bad()) {
      return fail(ErrorCode::kBadInput, display(path) + ": cannot decode pixel data (" +
                                            m.transfer_syntax_name + "): " + cond.text());
    }
  }
  if (m.photometric == "MONOCHROME1") {
    for (auto& v : out.px) v = static_cast<std::uint8_t>(255 - v);
  }
  return ok_status();
}

Status decode_windowed(const fs::path& path, DcmFileFormat& file, const DicomMeta& m, Image8& out) {
  DcmDataset& ds = *file.getDataset();
  ::DicomImage image(&file, ds.getOriginalXfer(), CIF_MayDetachPixelData, /*fstart=*/0, /*fcount=*/1);
  if (image.getStatus() != EIS_Normal) {
    return fail(ErrorCode::kBadInput, display(path) + ": cannot decode pixel data (" + m.transfer_syntax_name +
                                          "): " + ::DicomImage::getString(image.getStatus()));
  }
  // The file's first window, else its first VOI LUT, else min-max; a window or LUT DCMTK
  // rejects (empty or malformed values) falls through to the next choice.
  int ok = image.getWindowCount() > 0 ? image.setWindow(0) : 0;
  if (!ok && image.getVoiLutCount() > 0) ok = image.setVoiLut(0);
  if (!ok) ok = image.setMinMaxWindow(0);
  if (!ok) return fail(ErrorCode::kBadInput, display(path) + ": cannot apply VOI window / LUT");
  out = Image8(m.rows, m.cols);
  if (image.getOutputDataSize(8) != out.px.size() ||
      !image.getOutputData(out.px.data(), out.px.size(), /*bits=*/8, /*frame=*/0)) {
    return fail(ErrorCode::kBadInput, display(path) + ": cannot render 8-bit pixels");
  }
  return ok_status();
}

// Area averaging when shrinking on both axes, else bilinear; a copy-free no-op at the same size.
// The same choice as transforms' resize_image, which dicom does not depend on.
void resize_to(Image8& image, const Target& target) {
  if (image.rows == target.rows && image.cols == target.cols) return;
  const bool shrinking = target.rows <= image.rows && target.cols <= image.cols;
  Image8 out(target.rows, target.cols);
  const cv::Mat src(image.rows, image.cols, CV_8UC1, image.px.data());
  cv::Mat dst(out.rows, out.cols, CV_8UC1, out.px.data());
  cv::resize(src, dst, dst.size(), 0, 0, shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  image = std::move(out);
}

Result<DicomImage> read_pixels(const fs::path& path, const std::optional<Target>& target) {
  DcmFileFormat file;
  if (auto st = load(path, file, /*header_only=*/false); !st) return st.error();
  DicomImage result;
  result.meta = extract_meta(file);
  const DicomMeta& m = result.meta;
  if (auto st = check_supported(path, m); !st) return st.error();
  DcmDataset& ds = *file.getDataset();
  auto pixels = find_pixel_data(path, ds, m);
  if (!pixels) return pixels.error();
  Status decoded = stored_values_are_final(ds, m)
                       ? decode_stored_8bit(path, ds, **pixels, m, target, result.image)
                       : decode_windowed(path, file, m, result.image);
  if (!decoded) return decoded.error();
  if (target) resize_to(result.image, *target);
  return result;
}

}  // namespace

Result<DicomMeta> read_dicom_meta(const std::filesystem::path& path) {
  DcmFileFormat file;
  if (auto st = load(path, file, /*header_only=*/true); !st) return st.error();
  return extract_meta(file);
}

Result<DicomImage> read_dicom(const std::filesystem::path& path) { return read_pixels(path, std::nullopt); }

Result<DicomImage> read_dicom_resized(const std::filesystem::path& path, int target_rows, int target_cols) {
  if (target_rows <= 0 || target_cols <= 0) {
    return fail(ErrorCode::kInvalidArgument, display(path) + ": target size " + std::to_string(target_rows) + "x" +
                                                 std::to_string(target_cols) + ", expected positive rows and columns");
  }
  return read_pixels(path, Target{target_rows, target_cols});
}

std::optional<double> parse_patient_age(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) return std::nullopt;
  char unit = 'Y';
  if (std::isalpha(static_cast<unsigned char>(s.back()))) {
    unit = static_cast<char>(std::toupper(static_cast<unsigned char>(s.back())));
    s.remove_suffix(1);
  }
  if (s.empty() || s.size() > 4) return std::nullopt;
  if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const auto number = parse_int(s);
  if (!number) return std::nullopt;
  double years = 0;
  switch (unit) {
    case 'Y': years = static_cast<double>(*number); break;
    case 'M': years = static_cast<double>(*number) / 12.0; break;
    case 'W': years = static_cast<double>(*number) / 52.18; break;
    case 'D': years = static_cast<double>(*number) / 365.25; break;
    default: return std::nullopt;
  }
  if (years > 130.0) return std::nullopt;
  return years;
}

}  // namespace pneumo
