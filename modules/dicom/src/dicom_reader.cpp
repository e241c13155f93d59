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
#include <dcmtk/dcmdata/dcistrma.h>
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

#include <zlib.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <mutex>
#include <system_error>
#include <vector>

#include "jpeg_baseline.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/dicom/dicom.hpp"

namespace pneumo {
namespace {

namespace fs = std::filesystem;

// Bound on a deflated data set's inflated size (see prescan_deflated): 64 Mpx of 16-bit pixels
// plus 16 MB of header.
constexpr std::uint64_t kMaxInflatedBytes = 2 * 64ull * 1024 * 1024 + (16ull << 20);

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

// A random-access stream over a caller's buffer. Unlike DCMTK's DcmInputBufferStream it has a
// factory (newFactory), so DCMTK defers loading values longer than DCM_MaxReadLength until they
// are accessed, exactly as it does for files: a header that declares a 4 GB element is parsed
// without allocating 4 GB, and check_declared_lengths refuses it before anything touches it.
class SpanProducer : public DcmProducer {
 public:
  SpanProducer(const Uint8* data, offile_off_t size, offile_off_t offset)
      : data_(data), size_(size), pos_(std::min(offset, size)) {}
  OFBool good() const override { return OFTrue; }
  OFCondition status() const override { return EC_Normal; }
  OFBool eos() override { return pos_ >= size_; }
  offile_off_t avail() override { return size_ - pos_; }
  offile_off_t read(void* buf, offile_off_t buflen) override {
    const offile_off_t n = std::min(buflen, size_ - pos_);
    if (n > 0) std::memcpy(buf, data_ + pos_, static_cast<std::size_t>(n));
    pos_ += n;
    return n;
  }
  offile_off_t skip(offile_off_t skiplen) override {
    const offile_off_t n = std::min(skiplen, size_ - pos_);
    pos_ += n;
    return n;
  }
  void putback(offile_off_t num) override { pos_ -= std::min(num, pos_); }
  offile_off_t position() const { return pos_; }

 private:
  const Uint8* data_;
  offile_off_t size_;
  offile_off_t pos_;
};

class SpanInputStream : public DcmInputStream {
 public:
  SpanInputStream(const Uint8* data, offile_off_t size, offile_off_t offset)
      : DcmInputStream(&producer_), data_(data), size_(size), offset_(offset), producer_(data, size, offset) {}
  DcmInputStreamFactory* newFactory() const override;

 private:
  const Uint8* data_;
  offile_off_t size_;
  offile_off_t offset_;  // where this stream started in the buffer; tell() counts from there
  SpanProducer producer_;
};

class SpanStreamFactory : public DcmInputStreamFactory {
 public:
  SpanStreamFactory(const Uint8* data, offile_off_t size, offile_off_t offset)
      : data_(data), size_(size), offset_(offset) {}
  DcmInputStream* create() const override { return new SpanInputStream(data_, size_, offset_); }
  DcmInputStreamFactory* clone() const override { return new SpanStreamFactory(*this); }
  DcmInputStreamFactoryType ident() const override { return DFT_DcmInputFileStreamFactory; }

 private:
  const Uint8* data_;
  offile_off_t size_;
  offile_off_t offset_;
};

DcmInputStreamFactory* SpanInputStream::newFactory() const {
  // Behind a compression filter (deflate) positions in the buffer mean nothing: load eagerly.
  if (currentProducer() != &producer_) return nullptr;
  return new SpanStreamFactory(data_, size_, offset_ + tell());
}

// Where the bytes come from: a file (read lazily by DCMTK) or a caller's buffer. `name` labels
// every error message; `total_bytes` bounds what any element may declare.
struct Input {
  std::string name;
  const fs::path* path = nullptr;       // file input
  const std::uint8_t* data = nullptr;   // memory input (when path is null)
  std::size_t size = 0;
  std::uint64_t total_bytes = 0;        // file size or buffer size, set by sniff
};

Input file_input(const fs::path& path) {
  Input in;
  in.name = path.string();
  in.path = &path;
  return in;
}

Input memory_input(const std::uint8_t* data, std::size_t size, std::string_view name) {
  Input in;
  in.name = name.empty() ? std::string("<memory>") : std::string(name);
  in.data = data;
  in.size = size;
  in.total_bytes = size;
  return in;
}

// Checks the first bytes, so that a PNG or an empty file gets a clear message instead of whatever
// DCMTK makes of it. Accepts "DICM" at byte 128 (Part 10 file) or a dataset that starts with a
// plausible low group number in either byte order (no preamble, e.g. ACR-NEMA style or implicit
// VR files written without meta header).
Status sniff_bytes(const std::string& name, const unsigned char* head, std::size_t got) {
  if (got == 0) return fail(ErrorCode::kBadInput, name + ": empty file (0 bytes), expected DICOM");
  if (got >= 132 && head[128] == 'D' && head[129] == 'I' && head[130] == 'C' && head[131] == 'M') {
    return ok_status();
  }
  if (got >= 8) {
    const unsigned little = head[0] | (head[1] << 8);
    const unsigned big = (head[0] << 8) | head[1];
    auto plausible = [](unsigned group) { return group >= 0x0002 && group <= 0x0030 && group % 2 == 0; };
    if (plausible(little) || plausible(big)) return ok_status();
  }
  return fail(ErrorCode::kBadInput, name + ": not a DICOM file (no 'DICM' at byte 128 and no dataset at byte 0)");
}

// Existence, size and first bytes of the input.
Status sniff(Input& in) {
  if (in.path == nullptr) {
    if (in.data == nullptr && in.size > 0) return fail(ErrorCode::kInvalidArgument, in.name + ": null buffer");
    return sniff_bytes(in.name, in.data, in.size);
  }
  const fs::path& path = *in.path;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return fail(ErrorCode::kNotFound, in.name + ": no such file");
  if (!fs::is_regular_file(status)) return fail(ErrorCode::kBadInput, in.name + ": not a regular file");
  in.total_bytes = fs::file_size(path, ec);
  if (ec) return fail(ErrorCode::kIo, in.name + ": cannot read the file size: " + ec.message());
  std::ifstream file(path, std::ios::binary);
  if (!file) return fail(ErrorCode::kIo, in.name + ": cannot open for reading");
  std::array<unsigned char, 132> head{};
  file.read(reinterpret_cast<char*>(head.data()), head.size());
  return sniff_bytes(in.name, head.data(), static_cast<std::size_t>(file.gcount()));
}

std::uint32_t le32(const Uint8* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
std::uint16_t le16(const Uint8* p) { return static_cast<std::uint16_t>(p[0] | (p[1] << 8)); }

bool long_length_vr(const Uint8* vr) {
  static constexpr const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : kLong) {
    if (vr[0] == v[0] && vr[1] == v[1]) return true;
  }
  return false;
}

// Walks the element headers of explicit VR little endian bytes (sequences and items entered, not
// skipped) and checks that no value declares more bytes than remain. nullopt when fine, else the
// offending tag and lengths.
std::optional<std::string> first_overlong_element(const Uint8* p, std::size_t n) {
  std::size_t pos = 0;
  while (pos + 8 <= n) {
    const std::uint16_t group = le16(p + pos), element = le16(p + pos + 2);
    char tag[16];
    std::snprintf(tag, sizeof tag, "(%04x,%04x)", group, element);
    if (group == 0xFFFE) {  // item, item or sequence delimiter: 4-byte length, items are entered
      const std::uint32_t length = le32(p + pos + 4);
      pos += 8;
      if (element != 0xE000 && length != 0) return std::string(tag) + " delimiter with a non-zero length";
      continue;
    }
    const bool sequence = p[pos + 4] == 'S' && p[pos + 5] == 'Q';
    std::uint64_t length = 0;
    if (long_length_vr(p + pos + 4)) {
      if (pos + 12 > n) return std::string(tag) + " header cut short";
      length = le32(p + pos + 8);
      pos += 12;
    } else {
      length = le16(p + pos + 6);
      pos += 8;
    }
    if (sequence || length == 0xFFFFFFFFu) continue;  // contents follow as elements/items
    if (length > n - pos) {
      return std::string(tag) + " declares " + std::to_string(length) + " bytes, " + std::to_string(n - pos) +
             " remain";
    }
    pos += static_cast<std::size_t>(length);
  }
  return std::nullopt;
}

// DCMTK reads every value of a Deflated Explicit VR Little Endian data set eagerly and allocates
// what each header declares before reading it, so a few KB of deflate could make it allocate
// gigabytes. For such input, inflate the data set here first (at most `cap` bytes) and check every
// declared length against what the inflated data holds. Other transfer syntaxes pass untouched:
// their long values are loaded lazily and checked by check_declared_lengths.
// Where the data set of a deflated Part 10 file starts: walks the meta header (explicit VR
// little endian group 0002 after "DICM"). `complete` is false when the meta header runs past the
// bytes given (read more and ask again).
struct MetaScan {
  bool deflated = false;
  bool complete = true;
  std::size_t dataset_offset = 0;
};

MetaScan scan_meta(const Uint8* data, std::size_t size) {
  MetaScan m;
  std::size_t pos = 0;
  if (size >= 132 && std::memcmp(data + 128, "DICM", 4) == 0) {
    pos = 132;
  } else if (size >= 4 && std::memcmp(data, "DICM", 4) == 0) {
    pos = 4;  // meta header without the 128-byte preamble, which DCMTK also reads
  } else {
    return m;
  }
  while (true) {
    if (pos + 8 > size) {
      m.complete = false;
      return m;
    }
    if (le16(data + pos) != 0x0002) break;
    const std::uint16_t element = le16(data + pos + 2);
    std::size_t header = 8;
    std::uint64_t length = le16(data + pos + 6);
    if (long_length_vr(data + pos + 4)) {
      if (pos + 12 > size) {
        m.complete = false;
        return m;
      }
      header = 12;
      length = le32(data + pos + 8);
    }
    if (length > size - pos - header) {
      m.complete = false;  // a real meta header is short; the caller decides with all the bytes
      return m;
    }
    if (element == 0x0010) {
      std::string uid(reinterpret_cast<const char*>(data + pos + header), static_cast<std::size_t>(length));
      while (!uid.empty() && (uid.back() == '\0' || uid.back() == ' ')) uid.pop_back();
      m.deflated = uid == "1.2.840.10008.1.2.1.99";
    }
    pos += header + static_cast<std::size_t>(length);
  }
  m.dataset_offset = pos;
  return m;
}

Status prescan_deflated(const std::string& name, const Uint8* data, std::size_t size, std::uint64_t cap) {
  const MetaScan meta = scan_meta(data, size);
  if (!meta.deflated) return ok_status();
  const std::size_t pos = meta.dataset_offset;
  std::vector<Uint8> inflated;
  for (int window_bits : {-MAX_WBITS, MAX_WBITS}) {  // raw deflate (the standard), else zlib-wrapped
    z_stream z{};
    if (inflateInit2(&z, window_bits) != Z_OK) return fail(ErrorCode::kInternal, name + ": zlib init failed");
    z.next_in = const_cast<Bytef*>(data + pos);
    z.avail_in = static_cast<uInt>(std::min<std::size_t>(size - pos, UINT32_MAX));
    inflated.assign(static_cast<std::size_t>(std::min<std::uint64_t>(cap, 1 << 20)), 0);
    std::size_t produced = 0;
    int rc = Z_OK;
    bool too_big = false;
    while (rc == Z_OK) {
      if (produced == inflated.size()) {
        if (inflated.size() >= cap) {
          too_big = true;
          break;
        }
        inflated.resize(static_cast<std::size_t>(std::min<std::uint64_t>(cap, 2 * inflated.size())));
      }
      z.next_out = inflated.data() + produced;
      z.avail_out = static_cast<uInt>(inflated.size() - produced);
      rc = inflate(&z, Z_NO_FLUSH);
      produced = inflated.size() - z.avail_out;
    }
    inflateEnd(&z);
    if (too_big) {
      return fail(ErrorCode::kUnsupported,
                  name + ": deflated data set inflates to more than " + std::to_string(cap) + " bytes");
    }
    // Z_STREAM_END, or Z_BUF_ERROR when the input ends early (DCMTK reports the truncation).
    if (rc == Z_STREAM_END || (rc == Z_BUF_ERROR && produced > 0)) {
      inflated.resize(produced);
      if (auto bad = first_overlong_element(inflated.data(), inflated.size())) {
        return fail(ErrorCode::kBadInput, name + ": deflated data set element " + *bad);
      }
      return ok_status();
    }
  }
  return fail(ErrorCode::kBadInput, name + ": deflated data set cannot be inflated");
}

// Every element's declared value length (nested items included; DCMTK has not loaded the long
// ones yet) must fit in the input, and so must their sum: each value occupies its own bytes.
Status check_declared_lengths(const std::string& name, DcmItem& item, std::uint64_t budget, std::uint64_t& used) {
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* element = item.getElement(i);
    if (element == nullptr) continue;
    if (element->ident() == EVR_SQ) {
      auto* sequence = static_cast<DcmSequenceOfItems*>(element);
      for (unsigned long k = 0; k < sequence->card(); ++k) {
        if (auto st = check_declared_lengths(name, *sequence->getItem(k), budget, used); !st) return st;
      }
      continue;
    }
    if (element->ident() == EVR_PixelData) continue;  // checked with its fragments in find_pixel_data
    const std::uint64_t length = element->getLength();
    used += length;
    if (length > budget || used > budget) {
      DcmTag tag = element->getTag();
      char key[16];
      std::snprintf(key, sizeof key, "(%04x,%04x)", tag.getGTag(), tag.getETag());
      return fail(ErrorCode::kBadInput, name + ": " + tag.getTagName() + " " + key + " declares " +
                                            std::to_string(length) + " bytes; the input holds only " +
                                            std::to_string(budget));
    }
  }
  return ok_status();
}

// Parses the input; with `header_only` parsing stops at PixelData so the pixels are never read.
Status load(Input& in, DcmFileFormat& file, bool header_only) {
  init_dcmtk_once();
  if (auto st = sniff(in); !st) return st;
  // Deflated data sets: bounded inflate and header walk before DCMTK sees them.
  const std::uint64_t inflate_cap = kMaxInflatedBytes;
  if (in.path == nullptr) {
    if (auto st = prescan_deflated(in.name, in.data, in.size, inflate_cap); !st) return st;
  } else if (in.total_bytes >= 4) {
    // The meta header is in the first few hundred bytes; the whole file is read only when it is
    // deflated (or its meta header is longer than the head).
    std::ifstream head_stream(*in.path, std::ios::binary);
    std::vector<Uint8> head(static_cast<std::size_t>(std::min<std::uint64_t>(in.total_bytes, 65536)));
    head_stream.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    head.resize(static_cast<std::size_t>(head_stream.gcount()));
    const MetaScan meta = scan_meta(head.data(), head.size());
    if (meta.deflated || (!meta.complete && head.size() < in.total_bytes)) {
      auto bytes = read_file(*in.path);
      if (!bytes) return bytes.error();
      if (auto st = prescan_deflated(in.name, reinterpret_cast<const Uint8*>(bytes->data()), bytes->size(), inflate_cap);
          !st) {
        return st;
      }
    }
  }
  OFCondition cond = EC_Normal;
  if (in.path != nullptr) {
    const OFFilename name(in.path->c_str());
    cond = header_only ? file.loadFileUntilTag(name, EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                               ERM_autoDetect, DCM_PixelData)
                       : file.loadFile(name, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect);
  } else {
    SpanInputStream stream(in.data, static_cast<offile_off_t>(in.size), /*offset=*/0);
    file.transferInit();
    cond = header_only ? file.readUntilTag(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, DCM_PixelData)
                       : file.read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    file.transferEnd();
    // A buffer that ends inside an element leaves the parser waiting for more data.
    if (cond == EC_StreamNotifyClient) cond = EC_EndOfStream;
  }
  if (cond.bad()) {
    return fail(ErrorCode::kBadInput, in.name + ": cannot parse DICOM (" + cond.text() + "); truncated or corrupt?");
  }
  if (DcmXfer(file.getDataset()->getOriginalXfer()).getStreamCompression() == ESC_none) {
    std::uint64_t used = 0;
    if (auto st = check_declared_lengths(in.name, *file.getDataset(), in.total_bytes, used); !st) return st;
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

// The checks shared by both readers: what pneumo can turn into one grayscale image, within the
// limits. Runs before anything is allocated from the header.
Status check_supported(const std::string& file, const DicomMeta& m, const DicomReadLimits& limits) {
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
  if (m.bits_stored <= 0 || m.bits_stored > m.bits_allocated) {
    return fail(ErrorCode::kBadInput, file + ": BitsStored (0028,0101) is " + std::to_string(m.bits_stored) +
                                          ", expected 1.." + std::to_string(m.bits_allocated) + " (BitsAllocated)");
  }
  if (m.rows > limits.max_side || m.cols > limits.max_side) {
    return fail(ErrorCode::kUnsupported,
                file + ": Rows x Columns (0028,0010/0011) is " + std::to_string(m.rows) + " x " + std::to_string(m.cols) +
                    ", more than the limit of " + std::to_string(limits.max_side) + " per side");
  }
  const std::int64_t pixels = static_cast<std::int64_t>(m.rows) * m.cols;
  if (pixels > limits.max_pixels) {
    return fail(ErrorCode::kUnsupported, file + ": Rows x Columns (0028,0010/0011) is " + std::to_string(m.rows) +
                                             " x " + std::to_string(m.cols) + " = " + std::to_string(pixels) +
                                             " pixels, more than the limit of " +
                                             std::to_string(limits.max_pixels) + " pixels");
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

// The fragments of a single-frame encapsulated PixelData, after the offset table.
struct Fragments {
  DcmPixelSequence* sequence = nullptr;
  unsigned long count = 0;        // items after the offset table
  std::uint64_t total_bytes = 0;  // their declared lengths, summed
};

bool is_jpeg_family(E_TransferSyntax xfer) {
  switch (xfer) {
    case EXS_JPEGProcess1: case EXS_JPEGProcess2_4: case EXS_JPEGProcess3_5: case EXS_JPEGProcess6_8:
    case EXS_JPEGProcess7_9: case EXS_JPEGProcess10_12: case EXS_JPEGProcess11_13: case EXS_JPEGProcess14:
    case EXS_JPEGProcess15: case EXS_JPEGProcess16_18: case EXS_JPEGProcess17_19: case EXS_JPEGProcess20_22:
    case EXS_JPEGProcess21_23: case EXS_JPEGProcess24_26: case EXS_JPEGProcess25_27: case EXS_JPEGProcess28:
    case EXS_JPEGProcess29: case EXS_JPEGProcess14SV1: case EXS_JPEGLSLossless: case EXS_JPEGLSLossy:
      return true;
    default:
      return false;
  }
}

// The first bytes of the compressed frame: the first fragment, or all of them joined when the
// first one is too short to hold the stream's headers (joined stays within the input's size).
Result<std::vector<Uint8>> frame_head(const std::string& name, const Fragments& f, std::size_t want) {
  std::vector<Uint8> head;
  for (unsigned long i = 1; i <= f.count && head.size() < want; ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* bytes = nullptr;
    if (f.sequence->getItem(item, i).bad() || item == nullptr || item->getUint8Array(bytes).bad() ||
        (bytes == nullptr && item->getLength() > 0)) {
      return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) fragment " + std::to_string(i) +
                                            " cannot be read");
    }
    head.insert(head.end(), bytes, bytes + std::min<std::size_t>(item->getLength(), want - head.size()));
  }
  return head;
}

// Finds PixelData and checks that it can fill a rows x cols image and no more, before anything
// is decoded: the declared sizes against the input's size, a JPEG frame header against
// Rows/Columns, the RLE expansion bound.
Result<DcmPixelData*> find_pixel_data(const Input& in, DcmDataset& ds, const DicomMeta& m) {
  const std::string& name = in.name;
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
    return fail(ErrorCode::kBadInput, name + ": no PixelData (7fe0,0010)");
  }
  auto* pixels = dynamic_cast<DcmPixelData*>(element);
  if (pixels == nullptr) {
    return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) has an unexpected VR");
  }
  const std::uint64_t bytes_per_sample = static_cast<std::uint64_t>(m.bits_allocated / 8);
  const std::uint64_t expected = static_cast<std::uint64_t>(m.rows) * m.cols * bytes_per_sample;
  const DcmXfer xfer(ds.getOriginalXfer());
  if (!xfer.isEncapsulated()) {
    const std::uint64_t declared = pixels->getLength();
    if (declared < expected) {
      return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) has " + std::to_string(declared) +
                                            " bytes, expected " + std::to_string(expected) + " for " +
                                            std::to_string(m.rows) + " x " + std::to_string(m.cols) + " x " +
                                            std::to_string(m.bits_allocated) + " bits (truncated?)");
    }
    if (xfer.getStreamCompression() == ESC_none && declared > in.total_bytes) {
      return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) declares " + std::to_string(declared) +
                                            " bytes but the input holds only " + std::to_string(in.total_bytes));
    }
    return pixels;
  }
  if (!DcmCodecList::canChangeCoding(xfer.getXfer(), EXS_LittleEndianExplicit)) {
    return fail(ErrorCode::kUnsupported, name + ": cannot decode transfer syntax " + xfer.getXferName() + " (" +
                                             m.transfer_syntax_uid + ")");
  }
  const DcmRepresentationParameter* param = nullptr;
  Fragments f;
  if (pixels->getEncapsulatedRepresentation(xfer.getXfer(), param, f.sequence).bad() || f.sequence == nullptr ||
      f.sequence->card() < 2) {  // offset table + at least one fragment
    return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) has no compressed fragments");
  }
  f.count = f.sequence->card() - 1;
  for (unsigned long i = 1; i <= f.count; ++i) {
    DcmPixelItem* item = nullptr;
    if (f.sequence->getItem(item, i).bad() || item == nullptr) {
      return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) fragment " + std::to_string(i) + " is missing");
    }
    f.total_bytes += item->getLength();
  }
  if (f.total_bytes == 0 || f.total_bytes > in.total_bytes) {
    return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) fragments declare " +
                                          std::to_string(f.total_bytes) + " bytes; the input holds " +
                                          std::to_string(in.total_bytes));
  }
  if (is_jpeg_family(xfer.getXfer())) {
    auto head = frame_head(name, f, /*want=*/65536);
    if (!head) return head.error();
    const auto sof = detail::read_jpeg_frame_header(head->data(), head->size());
    if (!sof) {
      return fail(ErrorCode::kBadInput, name + ": PixelData (7fe0,0010) holds no JPEG frame header (SOF) in its " +
                                            xfer.getXferName() + " stream");
    }
    if (sof->rows != m.rows || sof->cols != m.cols || sof->components != m.samples_per_pixel) {
      return fail(ErrorCode::kBadInput,
                  name + ": the JPEG frame is " + std::to_string(sof->rows) + " x " + std::to_string(sof->cols) +
                      " with " + std::to_string(sof->components) + " component(s) but Rows x Columns (0028,0010/0011) is " +
                      std::to_string(m.rows) + " x " + std::to_string(m.cols) + " with SamplesPerPixel " +
                      std::to_string(m.samples_per_pixel));
    }
    if (sof->precision <= 0 || sof->precision > m.bits_allocated) {
      return fail(ErrorCode::kBadInput, name + ": the JPEG frame has " + std::to_string(sof->precision) +
                                            "-bit samples but BitsAllocated (0028,0100) is " +
                                            std::to_string(m.bits_allocated));
    }
  } else if (xfer.getXfer() == EXS_RLELossless) {
    // RLE header: segment count, then 15 offsets. Each segment is one byte plane; a 2-byte
    // replicate run yields at most 128 bytes, so the data cannot expand more than 64:1.
    auto head = frame_head(name, f, /*want=*/64);
    if (!head) return head.error();
    if (head->size() < 64) {
      return fail(ErrorCode::kBadInput, name + ": RLE PixelData (7fe0,0010) is shorter than its 64-byte header");
    }
    const std::uint32_t segments = (*head)[0] | ((*head)[1] << 8) | ((*head)[2] << 16) |
                                   (static_cast<std::uint32_t>((*head)[3]) << 24);
    if (segments != bytes_per_sample * static_cast<std::uint64_t>(m.samples_per_pixel)) {
      return fail(ErrorCode::kBadInput, name + ": RLE header has " + std::to_string(segments) +
                                            " segment(s), expected " + std::to_string(bytes_per_sample) +
                                            " for BitsAllocated " + std::to_string(m.bits_allocated));
    }
    if (expected > 64 * f.total_bytes) {
      return fail(ErrorCode::kBadInput, name + ": " + std::to_string(f.total_bytes) +
                                            " bytes of RLE data cannot fill " + std::to_string(m.rows) + " x " +
                                            std::to_string(m.cols) + " pixels (at most 64:1)");
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
Status decode_stored_8bit(const std::string& name, DcmDataset& ds, DcmPixelData& pixels,
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
        return fail(ErrorCode::kBadInput, name + ": cannot decode pixel data (" +
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
      return fail(ErrorCode::kBadInput, name + ": cannot decode pixel data (" +
                                            m.transfer_syntax_name + "): " + cond.text());
    }
  }
  if (m.photometric == "MONOCHROME1") {
    for (auto& v : out.px) v = static_cast<std::uint8_t>(255 - v);
  }
  return ok_status();
}

Status decode_windowed(const std::string& name, DcmFileFormat& file, const DicomMeta& m, Image8& out) {
  DcmDataset& ds = *file.getDataset();
  ::DicomImage image(&file, ds.getOriginalXfer(), CIF_MayDetachPixelData, /*fstart=*/0, /*fcount=*/1);
  if (image.getStatus() != EIS_Normal) {
    return fail(ErrorCode::kBadInput, name + ": cannot decode pixel data (" + m.transfer_syntax_name +
                                          "): " + ::DicomImage::getString(image.getStatus()));
  }
  // The file's first window, else its first VOI LUT, else min-max; a window or LUT DCMTK
  // rejects (empty or malformed values) falls through to the next choice.
  int ok = image.getWindowCount() > 0 ? image.setWindow(0) : 0;
  if (!ok && image.getVoiLutCount() > 0) ok = image.setVoiLut(0);
  if (!ok) ok = image.setMinMaxWindow(0);
  if (!ok) return fail(ErrorCode::kBadInput, name + ": cannot apply VOI window / LUT");
  out = Image8(m.rows, m.cols);
  if (image.getOutputDataSize(8) != out.px.size() ||
      !image.getOutputData(out.px.data(), out.px.size(), /*bits=*/8, /*frame=*/0)) {
    return fail(ErrorCode::kBadInput, name + ": cannot render 8-bit pixels");
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

Result<DicomImage> read_pixels(Input in, const std::optional<Target>& target, const DicomReadLimits& limits) {
  DcmFileFormat file;
  if (auto st = load(in, file, /*header_only=*/false); !st) return st.error();
  DicomImage result;
  result.meta = extract_meta(file);
  const DicomMeta& m = result.meta;
  if (auto st = check_supported(in.name, m, limits); !st) return st.error();
  DcmDataset& ds = *file.getDataset();
  auto pixels = find_pixel_data(in, ds, m);
  if (!pixels) return pixels.error();
  Status decoded = stored_values_are_final(ds, m)
                       ? decode_stored_8bit(in.name, ds, **pixels, m, target, result.image)
                       : decode_windowed(in.name, file, m, result.image);
  if (!decoded) return decoded.error();
  if (target) resize_to(result.image, *target);
  return result;
}

Result<DicomMeta> read_meta(Input in) {
  DcmFileFormat file;
  if (auto st = load(in, file, /*header_only=*/true); !st) return st.error();
  return extract_meta(file);
}

Status check_target(const std::string& name, int target_rows, int target_cols) {
  if (target_rows <= 0 || target_cols <= 0) {
    return fail(ErrorCode::kInvalidArgument, name + ": target size " + std::to_string(target_rows) + "x" +
                                                 std::to_string(target_cols) + ", expected positive rows and columns");
  }
  return ok_status();
}

const std::uint8_t* bytes_of(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

}  // namespace

Result<DicomMeta> read_dicom_meta(const std::filesystem::path& path) { return read_meta(file_input(path)); }

Result<DicomImage> read_dicom(const std::filesystem::path& path, const DicomReadLimits& limits) {
  return read_pixels(file_input(path), std::nullopt, limits);
}

Result<DicomImage> read_dicom_resized(const std::filesystem::path& path, int target_rows, int target_cols,
                                      const DicomReadLimits& limits) {
  if (auto st = check_target(path.string(), target_rows, target_cols); !st) return st.error();
  return read_pixels(file_input(path), Target{target_rows, target_cols}, limits);
}

Result<DicomMeta> read_dicom_meta_from_memory(const std::uint8_t* data, std::size_t size,
                                              std::string_view name_for_errors) {
  return read_meta(memory_input(data, size, name_for_errors));
}

Result<DicomImage> read_dicom_from_memory(const std::uint8_t* data, std::size_t size,
                                          std::string_view name_for_errors, const DicomReadLimits& limits) {
  return read_pixels(memory_input(data, size, name_for_errors), std::nullopt, limits);
}

Result<DicomImage> read_dicom_resized_from_memory(const std::uint8_t* data, std::size_t size,
                                                  std::string_view name_for_errors, int target_rows,
                                                  int target_cols, const DicomReadLimits& limits) {
  Input in = memory_input(data, size, name_for_errors);
  if (auto st = check_target(in.name, target_rows, target_cols); !st) return st.error();
  return read_pixels(std::move(in), Target{target_rows, target_cols}, limits);
}

Result<DicomMeta> read_dicom_meta_from_memory(std::string_view bytes, std::string_view name_for_errors) {
  return read_dicom_meta_from_memory(bytes_of(bytes), bytes.size(), name_for_errors);
}

Result<DicomImage> read_dicom_from_memory(std::string_view bytes, std::string_view name_for_errors,
                                          const DicomReadLimits& limits) {
  return read_dicom_from_memory(bytes_of(bytes), bytes.size(), name_for_errors, limits);
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
