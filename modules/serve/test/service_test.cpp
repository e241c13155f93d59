// The in-memory readers/writers against their file versions (byte for byte), and the service:
// Service::handle directly and the real HTTP server on a free loopback port, with fake engines
// (a deterministic "model" and one that blocks until released), so no model file is needed.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "base64_decode.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/dicom/dicom.hpp"
#include "pneumo/infer/image_input.hpp"
#include "pneumo/infer/prediction.hpp"
#include "pneumo/mask_rle/mask_rle.hpp"
#include "pneumo/outputs/dicom_outputs.hpp"
#include "pneumo/outputs/overlay.hpp"
#include "pneumo/serve/http_server.hpp"
#include "pneumo/serve/service.hpp"
#include "pneumo/worklist/worklist.hpp"
#include "pneumo/synth/synth.hpp"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace pneumo {
namespace {

constexpr int kSize = 96;

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("pneumo_serve_test_" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// A synthetic positive chest DICOM (JPEG baseline, as SIIM), written once.
fs::path synthetic_dicom(int index = 0) {
  const fs::path path = temp_dir() / ("synth" + std::to_string(index) + ".dcm");
  if (!fs::exists(path)) {
    SynthOptions o;
    o.count = 4;
    o.size = kSize;
    o.seed = 11;
    o.positive_share = 1.0;
    SynthCase c = generate_synthetic_case(o, index);
    c.meta.pixel_spacing_row_mm = 0.5;
    c.meta.pixel_spacing_col_mm = 0.5;
    EXPECT_TRUE(write_dicom(path, c.meta, c.image, DicomEncoding::kJpegBaseline).ok());
  }
  return path;
}

std::string file_text(const fs::path& p) {
  auto t = read_file(p);
  EXPECT_TRUE(t.ok()) << p;
  return t ? t.value() : std::string();
}

Bytes to_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

using pneumo::test::base64_decode;

// The fake model: pixels brighter than 150 are "pneumothorax"; probability = that share.
Result<std::vector<ImagePrediction>> fake_predict(const std::vector<Image8>& images) {
  std::vector<ImagePrediction> out;
  for (const Image8& img : images) {
    ImagePrediction p;
    p.mask = Mask(img.rows, img.cols);
    for (std::size_t i = 0; i < img.px.size(); ++i) p.mask.px[i] = img.px[i] > 150 ? 1 : 0;
    const long long n = count_nonzero(p.mask);
    p.positive = n > 0;
    p.image_probability = static_cast<float>(n) / static_cast<float>(img.px.size());
    out.push_back(std::move(p));
  }
  return out;
}

class FakeEngine : public InferenceEngine {
 public:
  Result<std::vector<ImagePrediction>> predict(const std::vector<Image8>& images) override {
    {
      std::lock_guard<std::mutex> lock(mutex);
      batch_sizes.push_back(images.size());
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    return fake_predict(images);
  }
  std::mutex mutex;
  std::vector<std::size_t> batch_sizes;
  std::chrono::milliseconds delay{0};
};

// Blocks every call after the warm-up until release(); entered() says a batch is inside.
class BlockingEngine : public InferenceEngine {
 public:
  Result<std::vector<ImagePrediction>> predict(const std::vector<Image8>& images) override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (calls_++ > 0) {  // the first call is the warm-up
      ++inside_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return released_; });
    }
    return fake_predict(images);
  }
  bool wait_inside(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(20), [&] { return inside_ >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int calls_ = 0, inside_ = 0;
  bool released_ = false;
};

ModelSummary fake_summary() {
  ModelSummary s;
  ModelFileInfo m;
  m.path = "/models/fake.pneumo";
  m.sha256 = std::string(64, 'a');
  m.arch = "unet";
  m.encoder = "fake";
  m.input_size = 64;
  s.models.push_back(m);
  return s;
}

std::vector<std::unique_ptr<InferenceEngine>> engines_of(std::unique_ptr<InferenceEngine> e) {
  std::vector<std::unique_ptr<InferenceEngine>> v;
  v.push_back(std::move(e));
  return v;
}

HttpRequest post(std::string body, std::string content_type = "application/dicom", std::string query_outputs = "") {
  HttpRequest r;
  r.method = "POST";
  r.path = "/v1/predict";
  r.body = std::move(body);
  if (!content_type.empty()) r.headers.emplace("content-type", content_type);
  if (!query_outputs.empty()) r.query.emplace("outputs", query_outputs);
  return r;
}

HttpRequest get(std::string path) {
  HttpRequest r;
  r.method = "GET";
  r.path = std::move(path);
  return r;
}

// ------------------------------------------------------------------ in-memory readers/writers

TEST(InMemory, PngEncodersWriteWhatTheFileWritersWrite) {
  auto d = read_dicom(synthetic_dicom());
  ASSERT_TRUE(d.ok()) << d.error().message;
  const fs::path grey = temp_dir() / "grey.png", rgb = temp_dir() / "rgb.png";
  ASSERT_TRUE(write_png(grey, d->image).ok());
  auto png = encode_png(d->image);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(to_bytes(file_text(grey)), png.value());
  auto back = decode_image_gray(png->data(), png->size(), "mem");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), d->image);
  EXPECT_EQ(read_png_gray(grey).value(), back.value());

  const ImageRgb overlay = render_overlay(d->image, Mask(kSize, kSize), std::nullopt, {});
  ASSERT_TRUE(write_png_rgb(rgb, overlay).ok());
  auto rgb_bytes = encode_png_rgb(overlay);
  ASSERT_TRUE(rgb_bytes.ok());
  EXPECT_EQ(to_bytes(file_text(rgb)), rgb_bytes.value());
  EXPECT_EQ(read_png_rgb(rgb).value(), overlay);

  auto bad = decode_image_gray(reinterpret_cast<const std::uint8_t*>("nope"), 4, "upload.png");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kBadInput);
  EXPECT_EQ(bad.error().message.rfind("upload.png: ", 0), 0u) << bad.error().message;
  EXPECT_FALSE(encode_png(Image8()).ok());
}

TEST(InMemory, SegAndScBytesEqualTheFiles) {
  const fs::path source = synthetic_dicom();
  auto d = read_dicom(source);
  ASSERT_TRUE(d.ok());
  Mask mask(kSize, kSize);
  for (int r = 10; r < 40; ++r)
    for (int c = 5; c < 30; ++c) mask.at(r, c) = 1;
  SegOptions seg;
  seg.content_date_time = "20240102030405";
  ScOptions sc;
  sc.content_date_time = "20240102030405";
  const Bytes src = to_bytes(file_text(source));

  const fs::path seg_file = temp_dir() / "seg.dcm", sc_file = temp_dir() / "sc.dcm";
  ASSERT_TRUE(write_dicom_seg(seg_file, source, mask, seg).ok());
  auto seg_bytes = encode_dicom_seg(src.data(), src.size(), source.string(), mask, seg);
  ASSERT_TRUE(seg_bytes.ok()) << seg_bytes.error().message;
  EXPECT_EQ(to_bytes(file_text(seg_file)), seg_bytes.value());
  EXPECT_EQ(read_dicom_seg_mask(seg_file).value(), mask);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(seg_bytes->data()) + 128, 4), "DICM");

  const ImageRgb overlay = render_overlay(d->image, mask, std::nullopt, {});
  ASSERT_TRUE(write_secondary_capture(sc_file, source, overlay, sc).ok());
  auto sc_bytes = encode_secondary_capture(src.data(), src.size(), source.string(), overlay, sc);
  ASSERT_TRUE(sc_bytes.ok()) << sc_bytes.error().message;
  EXPECT_EQ(to_bytes(file_text(sc_file)), sc_bytes.value());
  EXPECT_EQ(read_secondary_capture(sc_file).value(), overlay);

  // Not DICOM: an error naming the source, nothing thrown.
  const std::string junk(500, 'x');
  auto bad = encode_dicom_seg(reinterpret_cast<const std::uint8_t*>(junk.data()), junk.size(), "upload", mask, seg);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kBadInput);
  EXPECT_NE(bad.error().message.find("upload"), std::string::npos);
  // A missing source file keeps its old error.
  auto missing = write_dicom_seg(temp_dir() / "x.dcm", temp_dir() / "missing.dcm", mask, seg);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST(InMemory, DecodeInputEqualsTheFileReaders) {
  const fs::path source = synthetic_dicom(1);
  auto file = read_dicom(source);
  ASSERT_TRUE(file.ok());
  auto in = decode_input(to_bytes(file_text(source)), "upload", InputFormat::kDicom, "fallback");
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_EQ(in->image, file->image);
  EXPECT_EQ(in->image_id, file->meta.sop_instance_uid);
  ASSERT_TRUE(in->meta.has_value());
  EXPECT_EQ(in->meta->pixel_spacing_row_mm, file->meta.pixel_spacing_row_mm);
  ASSERT_TRUE(in->source_bytes);
  EXPECT_EQ(in->source_bytes->size(), fs::file_size(source));

  // Errors name the upload, never the in-memory path.
  const std::string junk(300, 'x');
  auto bad = decode_input(to_bytes(junk), "upload", InputFormat::kDicom, "id");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kBadInput);
  EXPECT_EQ(bad.error().message.rfind("upload: ", 0), 0u) << bad.error().message;
  EXPECT_EQ(bad.error().message.find("/proc/"), std::string::npos) << bad.error().message;

  // PNG: the fallback id; sizes from headers match the decoded images.
  auto png = encode_png(file->image);
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(sniff_input_format(png->data(), png->size()), InputFormat::kPng);
  auto png_in = decode_input(png.value(), "upload", InputFormat::kPng, "my-id");
  ASSERT_TRUE(png_in.ok());
  EXPECT_EQ(png_in->image_id, "my-id");
  EXPECT_EQ(png_in->image, file->image);
  auto png_size = input_image_size(png->data(), png->size(), InputFormat::kPng, "upload");
  ASSERT_TRUE(png_size.ok());
  EXPECT_EQ(png_size->rows, kSize);
  EXPECT_EQ(png_size->cols, kSize);
  const Bytes dicom = to_bytes(file_text(source));
  EXPECT_EQ(sniff_input_format(dicom.data(), dicom.size()), InputFormat::kDicom);
  auto dicom_size = input_image_size(dicom.data(), dicom.size(), InputFormat::kDicom, "upload");
  ASSERT_TRUE(dicom_size.ok()) << dicom_size.error().message;
  EXPECT_EQ(dicom_size->pixels(), static_cast<std::uint64_t>(kSize) * kSize);
  // The JPEG inside the DICOM starts at its first fragment; any JPEG header works the same way.
  std::vector<std::uint8_t> jpeg_header = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00,
                                           0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x01, 0x2C, 0x00, 0xC8, 0x01, 0x01, 0x11, 0x00};
  auto jpeg_size = input_image_size(jpeg_header.data(), jpeg_header.size(), InputFormat::kJpeg, "upload");
  ASSERT_TRUE(jpeg_size.ok()) << jpeg_size.error().message;
  EXPECT_EQ(jpeg_size->rows, 300);
  EXPECT_EQ(jpeg_size->cols, 200);
  EXPECT_FALSE(input_image_size(jpeg_header.data(), 6, InputFormat::kJpeg, "upload").ok());
}

TEST(Base64, Rfc4648Vectors) {
  auto enc = [](const std::string& s) { return base64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); };
  EXPECT_EQ(enc(""), "");
  EXPECT_EQ(enc("f"), "Zg==");
  EXPECT_EQ(enc("fo"), "Zm8=");
  EXPECT_EQ(enc("foo"), "Zm9v");
  EXPECT_EQ(enc("foob"), "Zm9vYg==");
  EXPECT_EQ(enc("fooba"), "Zm9vYmE=");
  EXPECT_EQ(enc("foobar"), "Zm9vYmFy");
}

// ------------------------------------------------------------------ Service::handle

TEST(Service, ReadyOnlyAfterWarmUpAndHealthAlways) {
  Service service(ServiceOptions{});
  EXPECT_EQ(service.handle(get("/health")).status, 200);
  EXPECT_EQ(service.handle(get("/ready")).status, 503);
  HttpResponse early = service.handle(post(file_text(synthetic_dicom())));
  EXPECT_EQ(early.status, 503);
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::make_unique<FakeEngine>())).ok());
  EXPECT_EQ(service.handle(get("/ready")).status, 200);
  service.begin_shutdown();
  EXPECT_EQ(service.handle(get("/ready")).status, 503);
  EXPECT_EQ(service.handle(get("/health")).status, 200);
}

TEST(Service, PredictReturnsTheRecordRleAndOutputs) {
  Service service(ServiceOptions{});
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::make_unique<FakeEngine>())).ok());
  const fs::path source = synthetic_dicom();
  auto d = read_dicom(source);
  ASSERT_TRUE(d.ok());
  HttpResponse r = service.handle(post(file_text(source), "application/dicom", "mask,overlay,seg,sc"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  const json j = json::parse(r.body);
  const Mask expected = fake_predict({d->image}).value().front().mask;
  EXPECT_EQ(j["image_id"], d->meta.sop_instance_uid);
  EXPECT_EQ(j["rows"], kSize);
  EXPECT_EQ(j["cols"], kSize);
  EXPECT_EQ(j["mask_area_px"], count_nonzero(expected));
  EXPECT_EQ(j["positive"], count_nonzero(expected) > 0);
  EXPECT_NEAR(j["mask_area_cm2"].get<double>(), count_nonzero(expected) * 0.25 / 100.0, 1e-6);
  EXPECT_EQ(j["model_sha256"], std::string(64, 'a'));
  EXPECT_EQ(j["models"][0]["file"], "fake.pneumo");  // file name only
  EXPECT_TRUE(j["postprocess"].contains("pixel_threshold"));
  EXPECT_EQ(j["batch_size"], 1);
  for (const char* t : {"decode", "queue", "inference", "outputs", "total"}) EXPECT_TRUE(j["timings_ms"].contains(t)) << t;
  auto rle = decode_rle(j["mask_rle"].get<std::string>(), kSize, kSize, RleFormat::kRelative);
  ASSERT_TRUE(rle.ok());
  EXPECT_EQ(rle.value(), expected);
  // The objects are what the file writers write (PNG bytes exactly; SEG decodes to the mask).
  Mask mask_0_255 = expected;
  for (auto& v : mask_0_255.px) v = v ? 255 : 0;
  EXPECT_EQ(to_bytes(base64_decode(j["outputs"]["mask_png"])), encode_png(mask_0_255).value());
  OverlayOptions oo;
  oo.positive = j["positive"];
  oo.probability = fake_predict({d->image}).value().front().image_probability;
  EXPECT_EQ(to_bytes(base64_decode(j["outputs"]["overlay_png"])),
            encode_png_rgb(render_overlay(d->image, expected, std::nullopt, oo)).value());
  EXPECT_EQ(j["caption"], json(overlay_caption_lines(oo)));
  const fs::path seg = temp_dir() / "from_service_seg.dcm";
  ASSERT_TRUE(write_file_atomic(seg, base64_decode(j["outputs"]["seg_dcm"])).ok());
  EXPECT_EQ(read_dicom_seg_mask(seg).value(), expected);
  EXPECT_FALSE(j["outputs"]["sc_dcm"].get<std::string>().empty());

  // A PNG: image_id from the query, no SEG/SC.
  HttpRequest png = post(std::string(reinterpret_cast<const char*>(encode_png(d->image)->data()), encode_png(d->image)->size()),
                         "image/png", "mask,seg");
  png.query.emplace("image_id", "case-7");
  HttpResponse pr = service.handle(png);
  ASSERT_EQ(pr.status, 200) << pr.body;
  const json pj = json::parse(pr.body);
  EXPECT_EQ(pj["image_id"], "case-7");
  EXPECT_EQ(pj["mask_rle"], j["mask_rle"]);
  EXPECT_TRUE(pj["mask_area_cm2"].is_null());
  EXPECT_TRUE(pj["outputs"].contains("mask_png"));
  EXPECT_FALSE(pj["outputs"].contains("seg_dcm"));
}

// A colour DICOM (SamplesPerPixel 3): well formed, not something pneumo handles -> 422.
std::string colour_dicom() {
  DicomMeta m;
  m.sop_class_uid = "1.2.840.10008.5.1.4.1.1.7";
  m.sop_instance_uid = "1.2.3.4";
  m.study_instance_uid = "1.2.3";
  m.series_instance_uid = "1.2.3.5";
  m.rows = m.cols = 8;
  const fs::path p = temp_dir() / "colour.dcm";
  EXPECT_TRUE(write_dicom(p, m, Image8(8, 8, 100), DicomEncoding::kExplicitLittleEndian).ok());
  std::string bytes = file_text(p);
  // Patch SamplesPerPixel (0028,0002) US 1 -> 3 in the explicit little endian data set.
  const std::string tag("\x28\x00\x02\x00US\x02\x00\x01\x00", 10);
  const auto at = bytes.find(tag);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos) bytes[at + 8] = 3;
  return bytes;
}

TEST(Service, ErrorStatusesAndMessages) {
  ServiceOptions o;
  o.max_body_bytes = 4096 * 64;
  o.max_pixels = static_cast<std::uint64_t>(kSize) * kSize;  // the synthetic DICOM fits exactly
  Service service(o);
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::make_unique<FakeEngine>())).ok());
  auto status_of = [&](const HttpRequest& r) {
    HttpResponse res = service.handle(r);
    const json j = json::parse(res.body);  // every error is JSON with a one-line message
    if (res.status != 200) {
      EXPECT_EQ(j["error"]["status"], res.status);
      EXPECT_EQ(j["error"]["message"].get<std::string>().find('\n'), std::string::npos);
    }
    return res.status;
  };
  EXPECT_EQ(status_of(post("")), 400);
  EXPECT_EQ(status_of(post(file_text(synthetic_dicom()), "application/dicom", "mask,bogus")), 400);
  HttpRequest unknown_param = post(file_text(synthetic_dicom()));
  unknown_param.query.emplace("threshold", "0.3");
  EXPECT_EQ(status_of(unknown_param), 400);
  EXPECT_EQ(status_of(post(std::string(300, 'x'), "application/dicom")), 400);         // not DICOM after all
  EXPECT_EQ(status_of(post("hello, world", "text/plain")), 415);
  EXPECT_EQ(status_of(post(std::string(300, 'x'), "multipart/form-data; boundary=x")), 415);
  EXPECT_EQ(status_of(post(colour_dicom())), 422);
  std::string truncated = file_text(synthetic_dicom());
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(status_of(post(truncated)), 400);
  EXPECT_EQ(status_of(post(std::string(o.max_body_bytes + 1, 'x'))), 413);
  HttpRequest flagged = post("x");
  flagged.body_over_limit = true;
  EXPECT_EQ(status_of(flagged), 413);
  // Over the pixel limit (one row more than allowed): refused from the PNG header, before decoding.
  auto png = encode_png(Image8(kSize + 1, kSize));
  ASSERT_TRUE(png.ok());
  EXPECT_EQ(status_of(post(std::string(png->begin(), png->end()), "image/png")), 413);
  EXPECT_EQ(status_of(get("/v1/predict")), 405);
  EXPECT_EQ(status_of(get("/v1/other")), 404);
  EXPECT_EQ(status_of(get("/../etc/passwd")), 404);
  EXPECT_EQ(status_of(post(file_text(synthetic_dicom()))), 200);
}

TEST(Service, InferenceFailureIs500AndTheServiceGoesOn) {
  class Flaky : public InferenceEngine {
   public:
    Result<std::vector<ImagePrediction>> predict(const std::vector<Image8>& images) override {
      ++calls;
      if (calls == 2) throw std::runtime_error("boom");
      if (calls == 3) return fail(ErrorCode::kInternal, "predict: LibTorch: out of memory");
      return fake_predict(images);
    }
    int calls = 0;
  };
  Service service(ServiceOptions{});
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::make_unique<Flaky>())).ok());
  const std::string body = file_text(synthetic_dicom());
  EXPECT_EQ(service.handle(post(body)).status, 500);
  EXPECT_EQ(service.handle(post(body)).status, 500);
  EXPECT_EQ(service.handle(post(body)).status, 200);
  EXPECT_TRUE(service.ready());
}

TEST(Service, MetricsCountRequestsBatchesAndNameTheModel) {
  Service service(ServiceOptions{});
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::make_unique<FakeEngine>())).ok());
  const std::string body = file_text(synthetic_dicom());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(service.handle(post(body)).status, 200);
  EXPECT_EQ(service.handle(post("")).status, 400);
  HttpResponse m = service.handle(get("/metrics"));
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
  const std::string& t = m.body;
  EXPECT_NE(t.find("pneumo_http_requests_total{route=\"/v1/predict\",status=\"200\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pneumo_http_requests_total{route=\"/v1/predict\",status=\"400\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pneumo_http_request_duration_seconds_count{route=\"/v1/predict\"} 4\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pneumo_images_processed_total 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pneumo_batch_size_bucket{le=\"1\"} 3\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pneumo_queue_depth 0\n"), std::string::npos) << t;
  EXPECT_NE(t.find("pneumo_model_info{file=\"fake.pneumo\",sha256=\"" + std::string(64, 'a') + "\"} 1\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("pneumo_ready 1\n"), std::string::npos) << t;
}

TEST(Service, AccessLogHasOneLinePerRequestAndNoIdentifiers) {
  std::mutex mutex;
  std::vector<std::string> lines;
  ServiceOptions o;
  o.access_log = [&](const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex);
    lines.push_back(line);
  };
  Service service(o);
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::make_unique<FakeEngine>())).ok());
  const fs::path source = synthetic_dicom();
  auto d = read_dicom(source);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(service.handle(post(file_text(source))).status, 200);
  EXPECT_EQ(service.handle(get("/health")).status, 200);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("route=/v1/predict status=200"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("ms="), std::string::npos);
  for (const auto& line : lines) {
    EXPECT_EQ(line.find(d->meta.sop_instance_uid), std::string::npos) << line;
    if (!d->meta.patient_id.empty()) {
      EXPECT_EQ(line.find(d->meta.patient_id), std::string::npos) << line;
    }
  }
}

TEST(Service, StaticFilesAndPlaceholder) {
  Service placeholder(ServiceOptions{});
  HttpResponse p = placeholder.handle(get("/"));
  EXPECT_EQ(p.status, 200);
  EXPECT_NE(p.body.find("/v1/predict"), std::string::npos);
  EXPECT_EQ(placeholder.handle(get("/app.js")).status, 404);

  const fs::path root = temp_dir() / "web";
  fs::create_directories(root);
  ASSERT_TRUE(write_file_atomic(root / "index.html", "<html>viewer</html>").ok());
  ASSERT_TRUE(write_file_atomic(root / "app.js", "let x = 1;").ok());
  ASSERT_TRUE(write_file_atomic(temp_dir() / "secret.txt", "no").ok());
  ServiceOptions o;
  o.web_root = root;
  Service service(o);
  HttpResponse index = service.handle(get("/"));
  EXPECT_EQ(index.body, "<html>viewer</html>");
  EXPECT_EQ(index.content_type, "text/html; charset=utf-8");
  HttpResponse js = service.handle(get("/app.js"));
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(service.handle(get("/../secret.txt")).status, 404);
  EXPECT_EQ(service.handle(get("/.hidden")).status, 404);
}

TEST(Service, RequestBytesThatAreNotUtf8GiveTheirOwnStatusWithValidJson) {
  Service service(ServiceOptions{});
  HttpResponse path = service.handle(get("/v1/\xfe\xff"));
  EXPECT_EQ(path.status, 404) << path.body;
  EXPECT_FALSE(json::parse(path.body, nullptr, false).is_discarded()) << path.body;
  HttpRequest method = get("/health");
  method.method = "G\xff";
  HttpResponse r = service.handle(method);
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded()) << r.body;
}

TEST(Service, WorklistRoutesListTheNodesStudiesInOrderAndServeOnlyListedImages) {
  Service none(ServiceOptions{});
  EXPECT_EQ(none.handle(get("/v1/worklist")).status, 404);

  const fs::path storage = temp_dir() / "node";
  fs::create_directories(storage / "images");
  {
    auto wl = Worklist::open(storage / "worklist.db");
    ASSERT_TRUE(wl.ok()) << wl.error().message;
    ASSERT_TRUE(wl->record_received({"1.2.1", "1.2.1.1", "2026-01-01T00:00:01Z"}).ok());
    ASSERT_TRUE(wl->record_received({"1.2.2", "1.2.2.1", "2026-01-01T00:00:02Z"}).ok());
    ASSERT_TRUE(wl->record_result("1.2.1.1", {0.10, false, std::nullopt, "none"}).ok());
    ASSERT_TRUE(wl->record_result("1.2.2.1", {0.95, true, 12.5, "right"}).ok());
  }
  ASSERT_TRUE(write_file_atomic(storage / "images" / "1.2.2.1.dcm", "DICOM BYTES").ok());
  ASSERT_TRUE(write_file_atomic(storage / "images" / "9.9.dcm", "NOT LISTED").ok());
  ServiceOptions o;
  o.worklist_file = storage / "worklist.db";  // node_storage defaults to its folder
  Service service(o);

  HttpResponse list = service.handle(get("/v1/worklist"));
  ASSERT_EQ(list.status, 200) << list.body;
  const json j = json::parse(list.body);
  ASSERT_EQ(j["items"].size(), 2u);
  // Suspected first, whatever the arrival order.
  EXPECT_EQ(j["items"][0]["id"], "1.2.2");
  EXPECT_EQ(j["items"][0]["url"], "/v1/worklist/images/1.2.2.1");
  EXPECT_NE(j["items"][0]["label"].get<std::string>().find("SUSPECTED PNEUMOTHORAX (p = 0.95), 12.5 cm2, right"),
            std::string::npos)
      << j["items"][0]["label"];
  EXPECT_EQ(j["items"][1]["id"], "1.2.1");
  EXPECT_EQ(j["studies"][0]["rank"], 1);

  HttpResponse image = service.handle(get("/v1/worklist/images/1.2.2.1"));
  EXPECT_EQ(image.status, 200);
  EXPECT_EQ(image.content_type, "application/dicom");
  EXPECT_EQ(image.body, "DICOM BYTES");
  // Listed but not stored; stored but not listed; path-like.
  EXPECT_EQ(service.handle(get("/v1/worklist/images/1.2.1.1")).status, 404);
  EXPECT_EQ(service.handle(get("/v1/worklist/images/9.9")).status, 404);
  EXPECT_EQ(service.handle(get("/v1/worklist/images/../worklist.db")).status, 404);
  HttpRequest post = get("/v1/worklist");
  post.method = "POST";
  EXPECT_EQ(service.handle(post).status, 405);
}

// ------------------------------------------------------------------ the real HTTP server

struct RunningServer {
  explicit RunningServer(Service& s) : http(s) {
    auto p = http.bind("127.0.0.1", 0);
    EXPECT_TRUE(p.ok());
    port = p.ok() ? p.value() : 0;
    thread = std::thread([this] { listened = http.listen().ok(); });
  }
  ~RunningServer() {
    http.stop();
    if (thread.joinable()) thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    c.set_write_timeout(30, 0);
    return c;
  }
  HttpServer http;
  int port = 0;
  std::thread thread;
  std::atomic<bool> listened{false};
};

TEST(HttpServer, PredictOverLoopbackAndBodyLimit) {
  ServiceOptions o;
  o.max_body_bytes = 200 * 1024;
  Service service(o);
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::make_unique<FakeEngine>())).ok());
  RunningServer server(service);
  auto c = server.client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const std::string body = file_text(synthetic_dicom());
  auto r = c.Post("/v1/predict?outputs=mask", body, "application/dicom");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_TRUE(j["outputs"].contains("mask_png"));
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");

  // Over the limit: the body is read and discarded, the answer is a JSON 413.
  auto big = c.Post("/v1/predict", std::string(o.max_body_bytes + 1000, 'x'), "application/dicom");
  ASSERT_TRUE(big) << httplib::to_string(big.error());
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(json::parse(big->body)["error"]["status"], 413);
  auto text = c.Post("/v1/predict", "hello", "text/plain");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 415);
  auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("status=\"413\"} 1"), std::string::npos) << metrics->body;
}

TEST(HttpServer, FullQueueAnswers429WithRetryAfter) {
  ServiceOptions o;
  o.workers = 1;
  o.max_batch = 1;
  o.queue_capacity = 1;
  o.batch_window = std::chrono::milliseconds(0);
  Service service(o);
  auto engine = std::make_unique<BlockingEngine>();
  BlockingEngine* blocking = engine.get();
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::move(engine))).ok());
  RunningServer server(service);
  const std::string body = file_text(synthetic_dicom());
  auto send = [&] {
    auto c = server.client();
    auto r = c.Post("/v1/predict", body, "application/dicom");
    return r ? r->status : -1;
  };
  auto first = std::async(std::launch::async, send);  // taken by the worker, which blocks
  ASSERT_TRUE(blocking->wait_inside(1));
  auto second = std::async(std::launch::async, send);  // waits in the queue
  for (int i = 0; i < 2000 && service.metrics_text().find("pneumo_queue_depth 1\n") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_NE(service.metrics_text().find("pneumo_queue_depth 1\n"), std::string::npos);
  auto c = server.client();
  auto third = c.Post("/v1/predict", body, "application/dicom");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 429);
  EXPECT_EQ(third->get_header_value("Retry-After"), "1");
  blocking->release();
  EXPECT_EQ(first.get(), 200);
  EXPECT_EQ(second.get(), 200);
}

TEST(HttpServer, ConcurrentRequestsAreBatched) {
  ServiceOptions o;
  o.workers = 1;
  o.max_batch = 4;
  o.batch_window = std::chrono::milliseconds(300);
  Service service(o);
  auto engine = std::make_unique<FakeEngine>();
  FakeEngine* fake = engine.get();
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::move(engine))).ok());
  RunningServer server(service);
  const std::string body = file_text(synthetic_dicom());
  std::vector<std::future<int>> replies;
  for (int i = 0; i < 4; ++i) {
    replies.push_back(std::async(std::launch::async, [&] {
      auto c = server.client();
      auto r = c.Post("/v1/predict", body, "application/dicom");
      return r && r->status == 200 ? json::parse(r->body)["batch_size"].get<int>() : -1;
    }));
  }
  int largest = 0;
  for (auto& f : replies) {
    const int b = f.get();
    ASSERT_GE(b, 1);
    largest = std::max(largest, b);
  }
  EXPECT_GE(largest, 2);
  std::lock_guard<std::mutex> lock(fake->mutex);
  EXPECT_EQ(fake->batch_sizes.front(), 1u);  // the warm-up
  EXPECT_LE(*std::max_element(fake->batch_sizes.begin(), fake->batch_sizes.end()), 4u);
}

TEST(HttpServer, ShutdownAnswersAcceptedRequestsThenStops) {
  ServiceOptions o;
  o.workers = 1;
  o.max_batch = 1;
  o.batch_window = std::chrono::milliseconds(0);
  Service service(o);
  auto engine = std::make_unique<BlockingEngine>();
  BlockingEngine* blocking = engine.get();
  ASSERT_TRUE(service.attach_engines(fake_summary(), engines_of(std::move(engine))).ok());
  auto server = std::make_unique<RunningServer>(service);
  const int port = server->port;
  const std::string body = file_text(synthetic_dicom());
  std::vector<std::future<int>> replies;
  for (int i = 0; i < 3; ++i) {
    replies.push_back(std::async(std::launch::async, [&] {
      auto c = server->client();
      auto r = c.Post("/v1/predict", body, "application/dicom");
      return r ? r->status : -1;
    }));
  }
  ASSERT_TRUE(blocking->wait_inside(1));
  for (int i = 0; i < 2000 && service.metrics_text().find("pneumo_queue_depth 2\n") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  service.begin_shutdown();
  EXPECT_EQ(service.handle(get("/ready")).status, 503);
  server->http.stop();  // no new connections; the three accepted ones are answered
  blocking->release();
  for (auto& f : replies) EXPECT_EQ(f.get(), 200);
  server.reset();  // listen() has returned
  service.stop_workers();
  httplib::Client late("127.0.0.1", port);
  late.set_connection_timeout(1, 0);
  EXPECT_FALSE(late.Get("/health"));
}

}  // namespace
}  // namespace pneumo
