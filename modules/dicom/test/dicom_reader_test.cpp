// Tests for read_dicom / read_dicom_meta / parse_patient_age.
//
// Synthetic files are built here with DCMTK (as ITK's DCMTK IO tests do), written uncompressed and
// re-encoded with DCMTK's lossless codecs; the expected 8-bit images are computed in this file
// from the stored values (the DICOM PS3.3 C.11.2.1.2 window formula, min-max, inversion), not by
// the reader. The real SIIM and other_dicom files are tested when ../shared/data is present.
#include <dcmtk/config/osconfig.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrplol.h>
#include <dcmtk/dcmjpeg/djrploss.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "pneumo/core/files.hpp"
#include "pneumo/dicom/dicom.hpp"

namespace fs = std::filesystem;
using pneumo::ErrorCode;
using pneumo::Image8;

namespace {

const fs::path kShared = PNEUMO_SHARED_DATA;

// A fresh directory per test process.
fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("pneumo_dicom_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// What a synthetic file holds.
struct Synthetic {
  int rows = 48;
  int cols = 64;  // not square, so that a rows/cols swap shows
  int bits_allocated = 8;
  int bits_stored = 8;
  std::string photometric = "MONOCHROME2";
  std::vector<std::uint16_t> stored;  // rows*cols*frames*samples values
  int frames = 1;
  int samples = 1;
  std::optional<std::pair<double, double>> rescale;  // slope, intercept
  std::optional<std::pair<double, double>> window;   // center, width
  bool with_pixels = true;
};

std::vector<std::uint16_t> pattern(int rows, int cols, int max_value, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(0, 9);
  std::vector<std::uint16_t> v(static_cast<size_t>(rows) * cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      // smooth ramp plus noise: exercises the codecs' predictors, covers the whole range
      long value = (static_cast<long>(r) * cols + c) * max_value / (static_cast<long>(rows) * cols - 1);
      value = std::clamp<long>(value + noise(rng) - 5, 0, max_value);
      v[static_cast<size_t>(r) * cols + c] = static_cast<std::uint16_t>(value);
    }
  }
  v.front() = 0;
  v.back() = static_cast<std::uint16_t>(max_value);
  return v;
}

std::unique_ptr<DcmFileFormat> make_file(const Synthetic& s) {
  auto file = std::make_unique<DcmFileFormat>();
  DcmDataset* ds = file->getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.10.999.1");
  ds->putAndInsertString(DCM_StudyInstanceUID, "1.2.826.0.1.3680043.10.999.2");
  ds->putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.10.999.3");
  ds->putAndInsertString(DCM_Modality, "DX");
  ds->putAndInsertString(DCM_PatientID, "synthetic-patient");
  ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(s.rows));
  ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(s.cols));
  ds->putAndInsertUint16(DCM_SamplesPerPixel, static_cast<Uint16>(s.samples));
  ds->putAndInsertString(DCM_PhotometricInterpretation, s.photometric.c_str());
  if (s.samples > 1) ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
  if (s.frames > 1) ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(s.frames).c_str());
  ds->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(s.bits_allocated));
  ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(s.bits_stored));
  ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(s.bits_stored - 1));
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  if (s.rescale) {
    ds->putAndInsertString(DCM_RescaleSlope, std::to_string(s.rescale->first).c_str());
    ds->putAndInsertString(DCM_RescaleIntercept, std::to_string(s.rescale->second).c_str());
  }
  if (s.window) {
    ds->putAndInsertString(DCM_WindowCenter, std::to_string(s.window->first).c_str());
    ds->putAndInsertString(DCM_WindowWidth, std::to_string(s.window->second).c_str());
  }
  if (s.with_pixels) {
    if (s.bits_allocated == 8) {
      std::vector<Uint8> bytes(s.stored.begin(), s.stored.end());
      EXPECT_TRUE(ds->putAndInsertUint8Array(DCM_PixelData, bytes.data(), bytes.size()).good());
    } else {
      EXPECT_TRUE(ds->putAndInsertUint16Array(DCM_PixelData, s.stored.data(), s.stored.size()).good());
    }
  }
  return file;
}

void register_codecs_once() {
  static bool done = [] {
    DcmRLEEncoderRegistration::registerCodecs();
    DJEncoderRegistration::registerCodecs();
    // the oracle decompress_with_dcmtk_dataset may run before the reader registered these
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    return true;
  }();
  (void)done;
}

// Writes `s` with the given transfer syntax; compressed syntaxes go through DCMTK's encoders.
fs::path write_synthetic(const Synthetic& s, E_TransferSyntax xfer, const std::string& name) {
  register_codecs_once();
  auto file = make_file(s);
  DcmDataset* ds = file->getDataset();
  if (xfer == EXS_RLELossless) {
    EXPECT_TRUE(ds->chooseRepresentation(EXS_RLELossless, nullptr).good());
  } else if (xfer == EXS_JPEGProcess14SV1) {
    DJ_RPLossless params(/*aPrediction=*/1, /*aPt=*/0);
    EXPECT_TRUE(ds->chooseRepresentation(EXS_JPEGProcess14SV1, &params).good());
  } else if (xfer == EXS_JPEGProcess1) {
    DJ_RPLossy params(/*aQuality=*/90);
    EXPECT_TRUE(ds->chooseRepresentation(EXS_JPEGProcess1, &params).good());
  }
  const fs::path path = temp_dir() / name;
  const OFCondition cond = file->saveFile(path.c_str(), xfer);
  EXPECT_TRUE(cond.good()) << name << ": " << cond.text();
  return path;
}

// DICOM PS3.3 C.11.2.1.2.1, linear VOI function, output range 0..255.
double dicom_linear_window(double x, double center, double width) {
  if (x <= center - 0.5 - (width - 1) / 2) return 0;
  if (x > center - 0.5 + (width - 1) / 2) return 255;
  return ((x - (center - 0.5)) / (width - 1) + 0.5) * 255.0;
}

int max_abs_diff(const Image8& a, const std::vector<double>& expected) {
  int worst = 0;
  for (size_t i = 0; i < a.px.size(); ++i) {
    worst = std::max(worst, static_cast<int>(std::lround(std::fabs(a.px[i] - expected[i]))));
  }
  return worst;
}

const std::vector<std::pair<E_TransferSyntax, std::string>> kLosslessSyntaxes = {
    {EXS_LittleEndianExplicit, "explicit"},
    {EXS_LittleEndianImplicit, "implicit"},
    {EXS_DeflatedLittleEndianExplicit, "deflated"},
    {EXS_RLELossless, "rle"},
    {EXS_JPEGProcess14SV1, "jpegll"},
};

// Reads `s` written with every lossless syntax; all decodes must equal each other exactly.
// Returns the uncompressed decode.
Image8 decode_all_syntaxes(const Synthetic& s, const std::string& stem) {
  Image8 reference;
  for (const auto& [xfer, tag] : kLosslessSyntaxes) {
    const fs::path path = write_synthetic(s, xfer, stem + "_" + tag + ".dcm");
    auto d = pneumo::read_dicom(path);
    EXPECT_TRUE(d.ok()) << tag << ": " << (d ? "" : d.error().message);
    if (!d) continue;
    EXPECT_EQ(d->image.rows, s.rows);
    EXPECT_EQ(d->image.cols, s.cols);
    EXPECT_EQ(d->meta.transfer_syntax_uid, DcmXfer(xfer).getXferID()) << tag;
    if (reference.empty()) {
      reference = d->image;
    } else {
      EXPECT_TRUE(d->image == reference) << stem << ": " << tag << " decode differs from uncompressed";
    }
  }
  return reference;
}

Image8 decompress_with_dcmtk_dataset(const fs::path& path);

void expect_error(const fs::path& path, ErrorCode code, const std::string& fragment = "") {
  auto d = pneumo::read_dicom(path);
  ASSERT_FALSE(d.ok()) << path;
  EXPECT_EQ(d.error().code, code) << d.error().message;
  EXPECT_NE(d.error().message.find(path.string()), std::string::npos) << d.error().message;
  EXPECT_EQ(d.error().message.find('\n'), std::string::npos) << "one line: " << d.error().message;
  if (!fragment.empty()) EXPECT_NE(d.error().message.find(fragment), std::string::npos) << d.error().message;
}


// ---- synthetic pixel pipeline ---------------------------------------------------------------

TEST(DicomReaderSynthetic, EightBitMonochrome2IsKeptExactlyInEverySyntax) {
  Synthetic s;
  s.stored = pattern(s.rows, s.cols, /*max_value=*/255, /*seed=*/1);
  // narrow range on purpose: a min-max stretch would change these values
  for (auto& v : s.stored) v = static_cast<std::uint16_t>(40 + v / 2);
  const Image8 got = decode_all_syntaxes(s, "mono2_8");
  ASSERT_FALSE(got.empty());
  for (size_t i = 0; i < s.stored.size(); ++i) {
    ASSERT_EQ(got.px[i], s.stored[i]) << "pixel " << i;
  }
}

TEST(DicomReaderSynthetic, EightBitMonochrome1IsInverted) {
  Synthetic s;
  s.photometric = "MONOCHROME1";
  s.stored = pattern(s.rows, s.cols, 255, /*seed=*/2);
  const Image8 got = decode_all_syntaxes(s, "mono1_8");
  ASSERT_FALSE(got.empty());
  for (size_t i = 0; i < s.stored.size(); ++i) ASSERT_EQ(got.px[i], 255 - s.stored[i]) << "pixel " << i;
}

TEST(DicomReaderSynthetic, SixteenBitRescaleThenMinMax) {
  Synthetic s;
  s.bits_allocated = 16;
  s.bits_stored = 12;
  s.rescale = {{2.0, -1000.0}};
  s.stored = pattern(s.rows, s.cols, 4095, /*seed=*/3);
  for (auto& v : s.stored) v = static_cast<std::uint16_t>(500 + v / 2);  // 500..2547
  const Image8 got = decode_all_syntaxes(s, "u16_minmax");
  ASSERT_FALSE(got.empty());
  // Oracle: modality value, then a linear min-max stretch to 0..255.
  std::vector<double> hu(s.stored.size());
  for (size_t i = 0; i < hu.size(); ++i) hu[i] = 2.0 * s.stored[i] - 1000.0;
  const auto [lo, hi] = std::minmax_element(hu.begin(), hu.end());
  std::vector<double> expected(hu.size());
  for (size_t i = 0; i < hu.size(); ++i) expected[i] = (hu[i] - *lo) * 255.0 / (*hi - *lo);
  EXPECT_LE(max_abs_diff(got, expected), 1);
  EXPECT_EQ(got.px[std::distance(hu.begin(), lo)], 0);
  EXPECT_EQ(got.px[std::distance(hu.begin(), hi)], 255);
}

TEST(DicomReaderSynthetic, SixteenBitVoiWindowIsApplied) {
  Synthetic s;
  s.bits_allocated = 16;
  s.bits_stored = 16;
  s.rescale = {{1.0, -1024.0}};
  s.window = {{40.0, 400.0}};  // a CT "soft tissue" window on Hounsfield units
  s.stored = pattern(s.rows, s.cols, 2047, /*seed=*/4);
  const Image8 got = decode_all_syntaxes(s, "u16_window");
  ASSERT_FALSE(got.empty());
  std::vector<double> expected(s.stored.size());
  int clipped_low = 0, clipped_high = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    expected[i] = dicom_linear_window(s.stored[i] - 1024.0, 40.0, 400.0);
    clipped_low += expected[i] == 0;
    clipped_high += expected[i] == 255;
  }
  ASSERT_GT(clipped_low, 100);  // the test image really exercises both clips
  ASSERT_GT(clipped_high, 100);
  EXPECT_LE(max_abs_diff(got, expected), 1);
}

TEST(DicomReaderSynthetic, SixteenBitMonochrome1WindowIsInverted) {
  Synthetic s;
  s.bits_allocated = 16;
  s.bits_stored = 10;
  s.photometric = "MONOCHROME1";
  s.window = {{512.0, 600.0}};
  s.stored = pattern(s.rows, s.cols, 1023, /*seed=*/5);
  const Image8 got = decode_all_syntaxes(s, "mono1_16");
  ASSERT_FALSE(got.empty());
  std::vector<double> expected(s.stored.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    expected[i] = 255.0 - dicom_linear_window(s.stored[i], 512.0, 600.0);
  }
  EXPECT_LE(max_abs_diff(got, expected), 1);
}

// JPEG baseline is lossy, so the oracle is DCMTK's IJG decoder on the same file (the reader
// decodes these with libjpeg-turbo). Also: a frame split over several fragments, and a corrupt
// stream inside an intact DICOM structure.
std::vector<std::vector<Uint8>> jpeg_fragments_of(const fs::path& path) {
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good());
  DcmElement* element = nullptr;
  EXPECT_TRUE(file.getDataset()->findAndGetElement(DCM_PixelData, element).good());
  auto* pixels = dynamic_cast<DcmPixelData*>(element);
  const DcmRepresentationParameter* param = nullptr;
  DcmPixelSequence* seq = nullptr;
  EXPECT_TRUE(pixels->getEncapsulatedRepresentation(EXS_JPEGProcess1, param, seq).good());
  std::vector<std::vector<Uint8>> out;
  for (unsigned long i = 1; seq != nullptr && i < seq->card(); ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* bytes = nullptr;
    EXPECT_TRUE(seq->getItem(item, i).good() && item->getUint8Array(bytes).good());
    out.emplace_back(bytes, bytes + item->getLength());
  }
  return out;
}

fs::path write_jpeg_fragments(const Synthetic& header, const std::vector<std::vector<Uint8>>& frags,
                              const std::string& name) {
  Synthetic s = header;
  s.with_pixels = false;
  auto file = make_file(s);
  auto* seq = new DcmPixelSequence(DcmTag(DCM_PixelSequenceTag));
  seq->insert(new DcmPixelItem(DcmTag(DCM_Item, EVR_OB)));  // empty basic offset table
  for (const auto& f : frags) {
    auto* item = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
    std::vector<Uint8> even = f;
    if (even.size() % 2) even.push_back(0);
    EXPECT_TRUE(item->putUint8Array(even.data(), static_cast<unsigned long>(even.size())).good());
    seq->insert(item);
  }
  auto* pixels = new DcmPixelData(DCM_PixelData);
  pixels->putOriginalRepresentation(EXS_JPEGProcess1, nullptr, seq);
  file->getDataset()->insert(pixels, /*replaceOld=*/true);
  const fs::path path = temp_dir() / name;
  const OFCondition cond = file->saveFile(path.c_str(), EXS_JPEGProcess1);
  EXPECT_TRUE(cond.good()) << cond.text();
  return path;
}

TEST(DicomReaderSynthetic, JpegBaselineMatchesDcmtkDecoderAlsoWhenFragmented) {
  Synthetic s;
  s.rows = 120;  // not a multiple of the 8x8 JPEG block
  s.cols = 100;
  s.stored = pattern(s.rows, s.cols, 255, /*seed=*/13);
  const fs::path single = write_synthetic(s, EXS_JPEGProcess1, "jpeg_baseline.dcm");
  const Image8 oracle = decompress_with_dcmtk_dataset(single);
  auto d = pneumo::read_dicom(single);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->meta.transfer_syntax_uid, "1.2.840.10008.1.2.4.50");
  EXPECT_TRUE(d->image == oracle);
  // lossy but close to the stored values: catches a decoder that returns garbage in both paths
  std::vector<double> stored(s.stored.begin(), s.stored.end());
  EXPECT_LE(max_abs_diff(d->image, stored), 40);

  auto frags = jpeg_fragments_of(single);
  ASSERT_EQ(frags.size(), 1u);
  const auto& whole = frags[0];
  const std::vector<std::vector<Uint8>> three = {
      {whole.begin(), whole.begin() + 300},  // fragments of even length but the last
      {whole.begin() + 300, whole.begin() + 1000},
      {whole.begin() + 1000, whole.end()}};
  auto split = pneumo::read_dicom(write_jpeg_fragments(s, three, "jpeg_fragments.dcm"));
  ASSERT_TRUE(split.ok()) << split.error().message;
  EXPECT_TRUE(split->image == oracle);

  std::vector<Uint8> cut(whole.begin(), whole.begin() + whole.size() / 2);
  const fs::path corrupt = write_jpeg_fragments(s, {cut}, "jpeg_corrupt.dcm");
  expect_error(corrupt, ErrorCode::kBadInput, "corrupt JPEG");
}

TEST(DicomReaderSynthetic, ConcurrentReadsMatchSerialReads) {
  // read_* may run on many threads at once (the index and the data loader do this).
  std::vector<fs::path> files;
  std::vector<Image8> serial;
  for (int i = 0; i < 8; ++i) {
    Synthetic s;
    s.stored = pattern(s.rows, s.cols, 255, /*seed=*/100 + i);
    const auto& [xfer, tag] = kLosslessSyntaxes[i % kLosslessSyntaxes.size()];
    files.push_back(write_synthetic(s, xfer, "concurrent_" + std::to_string(i) + "_" + tag + ".dcm"));
    auto d = pneumo::read_dicom(files.back());
    ASSERT_TRUE(d.ok()) << d.error().message;
    serial.push_back(d->image);
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < files.size(); ++i) {
          auto d = pneumo::read_dicom(files[(i + t) % files.size()]);
          if (!d || !(d->image == serial[(i + t) % files.size()])) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

// ---- metadata -------------------------------------------------------------------------------

TEST(DicomReaderMeta, FieldsAreRead) {
  Synthetic s;
  s.stored = pattern(s.rows, s.cols, 255, 6);
  auto file = make_file(s);
  DcmDataset* ds = file->getDataset();
  ds->putAndInsertString(DCM_PatientSex, "f ");
  ds->putAndInsertString(DCM_PatientAge, "038Y");
  ds->putAndInsertString(DCM_ViewPosition, "AP");
  ds->putAndInsertString(DCM_BodyPartExamined, "CHEST");
  ds->putAndInsertString(DCM_StudyDescription, "Chest 1 view");
  ds->putAndInsertString(DCM_ImagerPixelSpacing, "0.139\\0.143");
  const fs::path path = temp_dir() / "meta.dcm";
  ASSERT_TRUE(file->saveFile(path.c_str(), EXS_LittleEndianExplicit).good());

  auto m = pneumo::read_dicom_meta(path);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->sop_instance_uid, "1.2.826.0.1.3680043.10.999.1");
  EXPECT_EQ(m->sop_class_uid, UID_SecondaryCaptureImageStorage);
  EXPECT_EQ(m->study_instance_uid, "1.2.826.0.1.3680043.10.999.2");
  EXPECT_EQ(m->series_instance_uid, "1.2.826.0.1.3680043.10.999.3");
  EXPECT_EQ(m->patient_id, "synthetic-patient");
  EXPECT_EQ(m->sex, "F");
  EXPECT_EQ(m->age_text, "038Y");
  ASSERT_TRUE(m->age_years.has_value());
  EXPECT_DOUBLE_EQ(*m->age_years, 38.0);
  EXPECT_EQ(m->view_position, "AP");
  EXPECT_EQ(m->modality, "DX");
  EXPECT_EQ(m->body_part, "CHEST");
  EXPECT_EQ(m->study_description, "Chest 1 view");
  ASSERT_TRUE(m->pixel_spacing_row_mm && m->pixel_spacing_col_mm);  // ImagerPixelSpacing fallback
  EXPECT_DOUBLE_EQ(*m->pixel_spacing_row_mm, 0.139);
  EXPECT_DOUBLE_EQ(*m->pixel_spacing_col_mm, 0.143);
  EXPECT_EQ(m->rows, 48);
  EXPECT_EQ(m->cols, 64);
  EXPECT_EQ(m->frames, 1);
  EXPECT_EQ(m->samples_per_pixel, 1);
  EXPECT_EQ(m->bits_allocated, 8);
  EXPECT_EQ(m->bits_stored, 8);
  EXPECT_EQ(m->photometric, "MONOCHROME2");
  EXPECT_EQ(m->transfer_syntax_uid, "1.2.840.10008.1.2.1");
  EXPECT_EQ(m->transfer_syntax_name, "Little Endian Explicit");

  // PixelSpacing wins over ImagerPixelSpacing; an unknown sex becomes "O".
  ds->putAndInsertString(DCM_PixelSpacing, "0.168\\0.168");
  ds->putAndInsertString(DCM_PatientSex, "X");
  ASSERT_TRUE(file->saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  m = pneumo::read_dicom_meta(path);
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(m->pixel_spacing_row_mm.value_or(0), 0.168);
  EXPECT_EQ(m->sex, "O");
}

TEST(DicomReaderMeta, MissingFieldsAreEmpty) {
  Synthetic s;
  s.stored = pattern(s.rows, s.cols, 255, 7);
  const fs::path path = write_synthetic(s, EXS_LittleEndianExplicit, "sparse.dcm");
  auto m = pneumo::read_dicom_meta(path);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->sex, "");
  EXPECT_FALSE(m->age_years.has_value());
  EXPECT_FALSE(m->pixel_spacing_row_mm.has_value());
  EXPECT_EQ(m->view_position, "");
}

TEST(DicomReaderMeta, DoesNotReadPixelData) {
  // Cut inside the pixel data: the header parse must still succeed, the full read must not.
  Synthetic s;
  s.stored = pattern(s.rows, s.cols, 255, 8);
  const fs::path full = write_synthetic(s, EXS_LittleEndianExplicit, "meta_cut_src.dcm");
  auto bytes = pneumo::read_file(full);
  ASSERT_TRUE(bytes.ok());
  const fs::path cut = temp_dir() / "meta_cut.dcm";
  ASSERT_TRUE(pneumo::write_file_atomic(cut, bytes->substr(0, bytes->size() - 1000)).ok());
  auto m = pneumo::read_dicom_meta(cut);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ(m->rows, 48);
  auto d = pneumo::read_dicom(cut);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kBadInput);
}

TEST(DicomReaderMeta, FileWithoutPreambleIsRead) {
  Synthetic s;
  s.stored = pattern(s.rows, s.cols, 255, 9);
  register_codecs_once();
  auto file = make_file(s);
  const fs::path path = temp_dir() / "raw_dataset.dcm";
  ASSERT_TRUE(file->getDataset()->saveFile(path.c_str(), EXS_LittleEndianImplicit).good());
  auto d = pneumo::read_dicom(path);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->meta.transfer_syntax_uid, "1.2.840.10008.1.2");
  for (size_t i = 0; i < s.stored.size(); ++i) ASSERT_EQ(d->image.px[i], s.stored[i]);
}

// ---- errors ---------------------------------------------------------------------------------

TEST(DicomReaderErrors, MissingFile) {
  expect_error(temp_dir() / "does_not_exist.dcm", ErrorCode::kNotFound);
  auto m = pneumo::read_dicom_meta(temp_dir() / "does_not_exist.dcm");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kNotFound);
}

TEST(DicomReaderErrors, PngIsNotDicom) {
  const fs::path path = temp_dir() / "image.png";
  ASSERT_TRUE(pneumo::write_png(path, Image8(200, 200, 7)).ok());
  expect_error(path, ErrorCode::kBadInput, "not a DICOM file");
  auto m = pneumo::read_dicom_meta(path);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kBadInput);
}

TEST(DicomReaderErrors, ZeroLength) {
  const fs::path path = temp_dir() / "empty.dcm";
  ASSERT_TRUE(pneumo::write_file_atomic(path, "").ok());
  expect_error(path, ErrorCode::kBadInput, "empty");
}

TEST(DicomReaderErrors, TruncatedHalfFile) {
  Synthetic s;
  s.stored = pattern(s.rows, s.cols, 255, 10);
  for (const auto& [xfer, tag] : kLosslessSyntaxes) {
    const fs::path full = write_synthetic(s, xfer, "trunc_src_" + tag + ".dcm");
    auto bytes = pneumo::read_file(full);
    ASSERT_TRUE(bytes.ok());
    const fs::path half = temp_dir() / ("trunc_" + tag + ".dcm");
    ASSERT_TRUE(pneumo::write_file_atomic(half, bytes->substr(0, bytes->size() / 2)).ok());
    SCOPED_TRACE(tag);
    expect_error(half, ErrorCode::kBadInput);
  }
}

TEST(DicomReaderErrors, NoPixelData) {
  Synthetic s;
  s.with_pixels = false;
  const fs::path path = write_synthetic(s, EXS_LittleEndianExplicit, "no_pixels.dcm");
  expect_error(path, ErrorCode::kBadInput, "PixelData");
  EXPECT_TRUE(pneumo::read_dicom_meta(path).ok());  // the header alone is fine
}

TEST(DicomReaderErrors, TwoFramesAreUnsupported) {
  Synthetic s;
  s.frames = 2;
  s.stored = pattern(s.rows * 2, s.cols, 255, 11);
  const fs::path path = write_synthetic(s, EXS_LittleEndianExplicit, "two_frames.dcm");
  expect_error(path, ErrorCode::kUnsupported, "NumberOfFrames");
  auto m = pneumo::read_dicom_meta(path);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->frames, 2);
}

TEST(DicomReaderErrors, RgbIsUnsupported) {
  Synthetic s;
  s.samples = 3;
  s.photometric = "RGB";
  s.stored = pattern(s.rows * 3, s.cols, 255, 12);
  const fs::path path = write_synthetic(s, EXS_LittleEndianExplicit, "rgb.dcm");
  expect_error(path, ErrorCode::kUnsupported, "SamplesPerPixel");
}

// ---- PatientAge -----------------------------------------------------------------------------

TEST(PatientAge, Table) {
  struct Case {
    const char* text;
    std::optional<double> years;
  };
  const Case cases[] = {
      {"38", 38.0},          {"038Y", 38.0},        {"000Y", 0.0},         {"6M", 0.5},
      {"012M", 1.0},         {"2W", 2.0 / 52.18},   {"10D", 10.0 / 365.25}, {" 45 ", 45.0},
      {"130", 130.0},        {"131", std::nullopt}, {"148", std::nullopt}, {"413Y", std::nullopt},
      {"", std::nullopt},    {"Y", std::nullopt},   {"-5", std::nullopt},  {"3.5", std::nullopt},
      {"38X", std::nullopt}, {"abc", std::nullopt}, {"12345", std::nullopt},
  };
  for (const Case& c : cases) {
    const auto got = pneumo::parse_patient_age(c.text);
    ASSERT_EQ(got.has_value(), c.years.has_value()) << "'" << c.text << "'";
    if (got) EXPECT_NEAR(*got, *c.years, 1e-12) << "'" << c.text << "'";
  }
}

// ---- real data ------------------------------------------------------------------------------

std::vector<fs::path> dicoms_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".dcm") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

#define REQUIRE_SHARED(sub)                                                              \
  if (!fs::exists(kShared / (sub))) {                                                    \
    GTEST_SKIP() << "real data not found at " << (kShared / (sub)) << " - skipping"; \
  }

// The oracle for JPEG frames: DCMTK's own decoder (IJG 6b) decompressing the whole dataset, a
// different decoder from the reader's libjpeg-turbo fast path for JPEG baseline.
Image8 decompress_with_dcmtk_dataset(const fs::path& path) {
  register_codecs_once();
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good());
  DcmDataset* ds = file.getDataset();
  EXPECT_TRUE(ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).good());
  const Uint8* px = nullptr;
  unsigned long count = 0;
  EXPECT_TRUE(ds->findAndGetUint8Array(DCM_PixelData, px, &count).good());
  Uint16 rows = 0, cols = 0;
  ds->findAndGetUint16(DCM_Rows, rows);
  ds->findAndGetUint16(DCM_Columns, cols);
  Image8 img(rows, cols);
  if (px != nullptr && count >= img.px.size()) std::copy(px, px + img.px.size(), img.px.begin());
  return img;
}

void expect_siim_meta(const pneumo::DicomMeta& m, const fs::path& path) {
  EXPECT_EQ(m.rows, 1024) << path;
  EXPECT_EQ(m.cols, 1024) << path;
  EXPECT_EQ(m.bits_allocated, 8) << path;
  EXPECT_EQ(m.bits_stored, 8) << path;
  EXPECT_EQ(m.photometric, "MONOCHROME2") << path;
  EXPECT_EQ(m.samples_per_pixel, 1) << path;
  EXPECT_EQ(m.frames, 1) << path;
  EXPECT_EQ(m.modality, "CR") << path;
  EXPECT_EQ(m.sop_instance_uid, path.stem().string()) << path;
  EXPECT_EQ(m.transfer_syntax_uid, "1.2.840.10008.1.2.4.50") << path;
  // The stage-2 test images ("ID_...") carry no PatientID and no Study/Series UIDs.
  const bool stage2 = path.stem().string().rfind("ID_", 0) == 0;
  EXPECT_EQ(m.patient_id.empty(), stage2) << path;
  EXPECT_EQ(m.study_instance_uid.empty(), stage2) << path;
  EXPECT_TRUE(m.sex == "M" || m.sex == "F") << path;
  EXPECT_TRUE(m.view_position == "PA" || m.view_position == "AP") << path;
}

TEST(DicomReaderRealData, Siim47DecodeExactlyLikeDcmtkIjgDecoder) {
  REQUIRE_SHARED("siim/dicom");
  const auto files = dicoms_in(kShared / "siim/dicom");
  ASSERT_EQ(files.size(), 47u);
  int checked_pixels = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    auto d = pneumo::read_dicom(files[i]);
    ASSERT_TRUE(d.ok()) << d.error().message;
    expect_siim_meta(d->meta, files[i]);
    ASSERT_EQ(d->image.px.size(), 1024u * 1024u);
    EXPECT_TRUE(d->image == decompress_with_dcmtk_dataset(files[i])) << files[i];
    ++checked_pixels;
  }
  EXPECT_EQ(checked_pixels, 47);
}

TEST(DicomReaderRealData, Siim1kMetaAndSampleDecode) {
  REQUIRE_SHARED("siim/dicom-1k");
  const auto files = dicoms_in(kShared / "siim/dicom-1k");
  ASSERT_EQ(files.size(), 1000u);
  for (size_t i = 0; i < files.size(); ++i) {
    auto m = pneumo::read_dicom_meta(files[i]);
    ASSERT_TRUE(m.ok()) << m.error().message;
    expect_siim_meta(*m, files[i]);
    if (i % 50 == 0) {
      auto d = pneumo::read_dicom(files[i]);
      ASSERT_TRUE(d.ok()) << d.error().message;
      EXPECT_EQ(d->image.rows, 1024);
      long long sum = 0;
      for (auto v : d->image.px) sum += v;
      const double mean = static_cast<double>(sum) / d->image.px.size();
      EXPECT_GT(mean, 20.0) << files[i];  // a chest X-ray, not a blank frame
      EXPECT_LT(mean, 235.0) << files[i];
    }
  }
}

TEST(DicomReaderRealData, NihImplicitVrDecodes) {
  REQUIRE_SHARED("other_dicom");
  const fs::path dir = kShared / "other_dicom";
  fs::path nih;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().rfind("nhsx_NIH-CXR_", 0) == 0) nih = e.path();
  }
  ASSERT_FALSE(nih.empty());
  auto d = pneumo::read_dicom(nih);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->meta.transfer_syntax_uid, "1.2.840.10008.1.2");
  EXPECT_EQ(d->meta.modality, "DX");
  EXPECT_EQ(d->image.rows, 1024);
  EXPECT_EQ(d->image.cols, 1024);
  // Uncompressed 8-bit: the stored bytes are the last rows*cols bytes of the file.
  auto bytes = pneumo::read_file(nih);
  ASSERT_TRUE(bytes.ok());
  const std::string tail = bytes->substr(bytes->size() - d->image.px.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), d->image.px.begin(),
                         [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }));
}

TEST(DicomReaderRealData, FakeMonochrome1IsTheInvertedSiimImage) {
  REQUIRE_SHARED("other_dicom");
  const fs::path fake = kShared / "other_dicom/torchxrayvision_Fake_MONOHR1.dcm";
  auto d = pneumo::read_dicom(fake);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->meta.photometric, "MONOCHROME1");
  const fs::path original = kShared / "siim/dicom" / (d->meta.sop_instance_uid + ".dcm");
  // The fake is a SIIM image of siim/dicom (same SOPInstanceUID): with the data present, a missing
  // original means the reader returned the wrong UID, a failure, not a reason to skip.
  ASSERT_TRUE(fs::exists(original)) << "no SIIM file named after the UID the reader returned: " << original;
  auto o = pneumo::read_dicom(original);
  ASSERT_TRUE(o.ok()) << o.error().message;
  ASSERT_EQ(o->image.px.size(), d->image.px.size());
  for (size_t i = 0; i < o->image.px.size(); ++i) ASSERT_EQ(d->image.px[i], 255 - o->image.px[i]) << i;
}

TEST(DicomReaderRealData, Monochrome1TenBitChestIsInverted) {
  REQUIRE_SHARED("other_dicom");
  const fs::path path = kShared / "other_dicom/dwv_gdcm-CR-MONO1-10-chest.dcm";
  auto d = pneumo::read_dicom(path);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->image.rows, 440);
  EXPECT_EQ(d->image.cols, 440);
  // Oracle: stored values through the file's own window (C 550, W 1024), then inverted.
  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(path.c_str()).good());
  const Uint16* raw = nullptr;
  unsigned long count = 0;
  ASSERT_TRUE(file.getDataset()->findAndGetUint16Array(DCM_PixelData, raw, &count).good());
  ASSERT_GE(count, 440ul * 440ul);
  std::vector<double> expected(440 * 440);
  for (size_t i = 0; i < expected.size(); ++i) {
    expected[i] = 255.0 - dicom_linear_window(raw[i] & 0x3ff, 550.0, 1024.0);
  }
  EXPECT_LE(max_abs_diff(d->image, expected), 1);
  // Air (the darkest region of a correctly inverted chest film) is at the border.
  long long border = 0, centre = 0;
  for (int c = 0; c < 440; ++c) border += d->image.at(5, c);
  for (int c = 170; c < 270; ++c) centre += d->image.at(220, c);
  EXPECT_NE(border / 440, centre / 100);
}

TEST(DicomReaderRealData, CompressedNonChestFilesDecode) {
  REQUIRE_SHARED("other_dicom");
  for (const char* name : {"dwv_nema-ct1_jpll_NONCXR.dcm", "dwv_leadtools-flowers-8-mono2-rle_NONCXR.dcm"}) {
    auto d = pneumo::read_dicom(kShared / "other_dicom" / name);
    ASSERT_TRUE(d.ok()) << d.error().message;
    EXPECT_EQ(static_cast<size_t>(d->image.rows) * d->image.cols, d->image.px.size());
    const auto [lo, hi] = std::minmax_element(d->image.px.begin(), d->image.px.end());
    EXPECT_LT(*lo, 30) << name;  // a real image with contrast, not a constant frame
    EXPECT_GT(*hi, 200) << name;
  }
  auto ct = pneumo::read_dicom(kShared / "other_dicom/dwv_nema-ct1_jpll_NONCXR.dcm");
  ASSERT_TRUE(ct.ok());
  EXPECT_EQ(ct->image.rows, 512);
  auto flowers = pneumo::read_dicom(kShared / "other_dicom/dwv_leadtools-flowers-8-mono2-rle_NONCXR.dcm");
  ASSERT_TRUE(flowers.ok());
  EXPECT_EQ(flowers->image.rows, 535);
  EXPECT_EQ(flowers->image.cols, 800);
  EXPECT_TRUE(flowers->image == decompress_with_dcmtk_dataset(
                                    kShared / "other_dicom/dwv_leadtools-flowers-8-mono2-rle_NONCXR.dcm"));
}

TEST(DicomReaderRealData, Jpeg2000IsUnsupported) {
  REQUIRE_SHARED("other_dicom");
  const fs::path path = kShared / "other_dicom/dwv_nema-nm1_j2kr_NONCXR.dcm";
  expect_error(path, ErrorCode::kUnsupported, "1.2.840.10008.1.2.4.90");
  auto m = pneumo::read_dicom_meta(path);
  ASSERT_TRUE(m.ok()) << m.error().message;  // the header is fine
  EXPECT_EQ(m->transfer_syntax_uid, "1.2.840.10008.1.2.4.90");
}

}  // namespace
