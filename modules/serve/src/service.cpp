// Service: routing, the predict endpoint, the bounded queue with batching workers, static files.
#include "pneumo/serve/service.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include <nlohmann/json.hpp>

#include "metrics.hpp"
#include "pneumo/core/files.hpp"
#include "pneumo/core/strings.hpp"
#include "pneumo/infer/image_input.hpp"
#include "pneumo/infer/prediction.hpp"
#include "pneumo/outputs/overlay.hpp"
#include "pneumo/worklist/worklist.hpp"

namespace pneumo {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
double round3(double v) { return static_cast<double>(static_cast<long long>(v * 1000.0 + 0.5)) / 1000.0; }

const char* code_slug(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 422: return "unprocessable";
    case 429: return "queue_full";
    case 503: return "not_ready";
    default: return status >= 500 ? "internal" : "error";
  }
}

// Messages are one line whatever the input held (a DICOM may carry newlines in a UID).
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return s;
}

HttpResponse error_response(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  // Messages may quote request bytes (a path, a method) that are not UTF-8: replaced, not thrown.
  r.body = json{{"error", {{"status", status}, {"code", code_slug(status)}, {"message", one_line(message)}}}}.dump(
               -1, ' ', false, json::error_handler_t::replace) +
           "\n";
  return r;
}

HttpResponse error_response(const Error& e) { return error_response(http_status_for(e.code), e.message); }

HttpResponse json_response(const json& j) {
  HttpResponse r;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return r;
}

std::string header(const HttpRequest& req, const std::string& name) {
  auto it = req.headers.find(name);
  return it == req.headers.end() ? "" : it->second;
}

std::string content_type_for(const fs::path& p) {
  const std::string ext = to_lower(p.extension().string());
  if (ext == ".html" || ext == ".htm") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt" || ext == ".md") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

constexpr const char* kPlaceholderPage =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>pneumo serve</title></head>\n"
    "<body><h1>pneumo serve</h1>\n"
    "<p>The viewer page (web/index.html) is not installed here. The API works:</p>\n"
    "<pre>curl -s --data-binary @image.dcm -H 'Content-Type: application/dicom' http://HOST:PORT/v1/predict</pre>\n"
    "<p>See <code>docs/serve.md</code>. Endpoints: POST /v1/predict, GET /health, GET /ready, GET /metrics.</p>\n"
    "</body></html>\n";

// A job: one image waiting for (then done by) a worker. The handler thread owns it and waits.
struct Job {
  const Image8* image = nullptr;
  Clock::time_point enqueued;
  std::promise<void> done;
  std::optional<ImagePrediction> prediction;
  std::optional<Error> error;
  std::size_t batch_size = 0;
  double queue_ms = 0, inference_ms = 0;
};

}  // namespace

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kBadInput: return 400;
    case ErrorCode::kUnsupported: return 422;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kIo: return 500;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

std::string base64_encode(const std::uint8_t* data, std::size_t size) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((size + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < size; i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < size) {
    std::uint32_t v = std::uint32_t{data[i]} << 16;
    if (i + 1 < size) v |= std::uint32_t{data[i + 1]} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < size ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

class PredictorEngine : public InferenceEngine {
 public:
  explicit PredictorEngine(Predictor p) : predictor_(std::move(p)) {}
  Result<std::vector<ImagePrediction>> predict(const std::vector<Image8>& images) override {
    return predictor_.predict(images);
  }

 private:
  Predictor predictor_;
};

}  // namespace

std::unique_ptr<InferenceEngine> make_predictor_engine(Predictor predictor) {
  return std::make_unique<PredictorEngine>(std::move(predictor));
}

struct Service::Impl {
  explicit Impl(ServiceOptions o) : options(std::move(o)), metrics(options.max_batch) {}

  ServiceOptions options;
  detail::Metrics metrics;
  ModelSummary summary;
  json models_json = json::array();
  std::vector<std::pair<std::string, std::string>> model_labels;
  std::atomic<bool> ready{false};
  std::atomic<bool> shutting_down{false};
  std::atomic<std::uint64_t> request_counter{0};

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job*> queue;
  bool stopping = false;
  std::vector<std::unique_ptr<InferenceEngine>> engines;
  std::vector<std::thread> workers;

  // ---- workers
  void worker_loop(InferenceEngine& engine) {
    const std::size_t max_batch = static_cast<std::size_t>(std::max(1, options.max_batch));
    while (true) {
      std::vector<Job*> batch;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping and drained
        batch.push_back(queue.front());
        queue.pop_front();
        const auto deadline = Clock::now() + options.batch_window;
        while (batch.size() < max_batch) {
          if (queue.empty() && !wake.wait_until(lock, deadline, [&] { return stopping || !queue.empty(); })) break;
          if (queue.empty()) break;
          batch.push_back(queue.front());
          queue.pop_front();
        }
      }
      run_batch(engine, batch);
    }
  }

  void run_batch(InferenceEngine& engine, const std::vector<Job*>& batch) {
    const auto start = Clock::now();
    std::vector<Image8> images;
    images.reserve(batch.size());
    for (Job* job : batch) images.push_back(*job->image);
    std::optional<Error> error;
    std::vector<ImagePrediction> predictions;
    try {
      auto preds = engine.predict(images);
      if (!preds) {
        error = preds.error();
      } else if (preds->size() != batch.size()) {
        error = fail(ErrorCode::kInternal, "inference returned " + std::to_string(preds->size()) +
                                               " predictions for " + std::to_string(batch.size()) + " images");
      } else {
        predictions = std::move(preds.value());
      }
    } catch (const std::exception& e) {
      error = fail(ErrorCode::kInternal, std::string("inference failed: ") + e.what());
    } catch (...) {
      error = fail(ErrorCode::kInternal, "inference failed with an unknown exception");
    }
    const auto end = Clock::now();
    metrics.batch(batch.size(), std::chrono::duration<double>(end - start).count());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      Job* job = batch[i];
      job->batch_size = batch.size();
      job->queue_ms = ms_between(job->enqueued, start);
      job->inference_ms = ms_between(start, end);
      if (error) {
        job->error = error;
      } else {
        job->prediction = std::move(predictions[i]);
      }
      job->done.set_value();
    }
  }

  // false: the queue is full.
  bool enqueue(Job& job) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (stopping || queue.size() >= options.queue_capacity) return false;
      job.enqueued = Clock::now();
      queue.push_back(&job);
    }
    wake.notify_one();
    return true;
  }

  std::size_t queue_depth() {
    std::lock_guard<std::mutex> lock(mutex);
    return queue.size();
  }

  // ---- endpoints
  HttpResponse predict(const HttpRequest& req);
  HttpResponse static_file(const HttpRequest& req);
};

Service::Service(ServiceOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Service::~Service() { stop_workers(); }

const ServiceOptions& Service::options() const { return impl_->options; }
bool Service::ready() const { return impl_->ready && !impl_->shutting_down; }
void Service::begin_shutdown() { impl_->shutting_down = true; }

Status Service::attach_engines(ModelSummary summary, std::vector<std::unique_ptr<InferenceEngine>> engines) {
  Impl& s = *impl_;
  if (engines.empty() || static_cast<int>(engines.size()) != s.options.workers) {
    return fail(ErrorCode::kInvalidArgument, "serve: " + std::to_string(engines.size()) + " engines for " +
                                                 std::to_string(s.options.workers) + " workers");
  }
  if (!s.engines.empty()) return fail(ErrorCode::kInvalidArgument, "serve: engines are already attached");
  // Warm-up: one small image through each engine (first-call allocations, lazy init).
  const Image8 warm(64, 64, 128);
  for (std::size_t i = 0; i < engines.size(); ++i) {
    auto r = engines[i]->predict({warm});
    if (!r) return fail(r.error().code, "serve: warm-up of worker " + std::to_string(i) + " failed: " + r.error().message);
  }
  s.summary = std::move(summary);
  s.models_json = json::array();
  s.model_labels.clear();
  for (const auto& m : s.summary.models) {
    s.models_json.push_back({{"file", m.path.filename().string()},
                             {"sha256", m.sha256},
                             {"arch", m.arch},
                             {"encoder", m.encoder},
                             {"input_size", m.input_size}});
    s.model_labels.emplace_back(m.path.filename().string(), m.sha256);
  }
  s.engines = std::move(engines);
  for (auto& engine : s.engines) {
    InferenceEngine* e = engine.get();
    s.workers.emplace_back([&s, e] { s.worker_loop(*e); });
  }
  s.ready = true;
  return ok_status();
}

void Service::stop_workers() {
  Impl& s = *impl_;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.stopping = true;
  }
  s.wake.notify_all();
  for (auto& t : s.workers) {
    if (t.joinable()) t.join();
  }
  s.workers.clear();
  s.ready = false;
}

std::string Service::metrics_text() const {
  Impl& s = *impl_;
  return s.metrics.text(s.queue_depth(), s.options.queue_capacity, ready(), s.model_labels);
}

HttpResponse Service::Impl::predict(const HttpRequest& req) {
  const auto t0 = Clock::now();
  if (!ready) {
    HttpResponse r = error_response(503, "the model is still loading; retry shortly");
    r.headers.emplace_back("Retry-After", "2");
    return r;
  }
  // Query: outputs=mask,overlay,seg,sc (repeatable), image_id=ID.
  OutputSelection selection;
  std::string image_id;
  for (const auto& [key, value] : req.query) {
    if (key == "outputs") {
      for (std::string_view raw : split(value, ',')) {
        const std::string item = to_lower(trim(raw));
        if (item == "mask") selection.mask_png = true;
        else if (item == "overlay") selection.overlay_png = true;
        else if (item == "seg") selection.seg = true;
        else if (item == "sc") selection.sc = true;
        else if (!item.empty()) {
          return error_response(400, "query 'outputs': unknown item '" + item + "' (expected mask, overlay, seg, sc)");
        }
      }
    } else if (key == "image_id") {
      if (value.empty() || value.size() > 256) return error_response(400, "query 'image_id': expected 1 to 256 characters");
      image_id = value;
    } else {
      return error_response(400, "unknown query parameter '" + key + "' (expected outputs, image_id)");
    }
  }
  if (req.body_over_limit || req.body.size() > options.max_body_bytes) {
    return error_response(413, "body larger than the limit of " + std::to_string(options.max_body_bytes) + " bytes");
  }
  if (req.body.empty()) return error_response(400, "empty body: send one DICOM, PNG or JPEG file as the request body");

  const auto* data = reinterpret_cast<const std::uint8_t*>(req.body.data());
  const std::string content_type_header = header(req, "content-type");
  const std::string content_type = to_lower(trim(std::string_view(content_type_header).substr(0, content_type_header.find(';'))));
  std::optional<InputFormat> format = sniff_input_format(data, req.body.size());
  if (!format && (content_type == "application/dicom" || content_type == "application/octet-stream")) {
    format = InputFormat::kDicom;  // a data set without preamble, or not DICOM at all: the reader says which
  }
  if (!format) {
    const std::string sent = content_type.empty() ? "no Content-Type" : "Content-Type " + content_type;
    return error_response(415, "body is not DICOM ('DICM' at byte 128), PNG or JPEG (" + sent +
                                   "); send the file itself as the body, not a form");
  }
  const std::string name = "upload";
  auto size = input_image_size(data, req.body.size(), *format, name);
  if (!size) return error_response(size.error());
  if (size->pixels() > options.max_pixels) {
    return error_response(413, name + ": image is " + std::to_string(size->cols) + "x" + std::to_string(size->rows) +
                                   (size->frames > 1 ? "x" + std::to_string(size->frames) : std::string()) +
                                   " pixels, over the limit of " + std::to_string(options.max_pixels));
  }
  if (image_id.empty()) image_id = "upload-" + sha256_hex(req.body).substr(0, 16);
  auto decoded = decode_input(Bytes(req.body.begin(), req.body.end()), name, *format, image_id);
  if (!decoded) return error_response(decoded.error());
  const auto t_decoded = Clock::now();

  Job job;
  job.image = &decoded->image;
  std::future<void> done = job.done.get_future();
  if (!enqueue(job)) {
    HttpResponse r = error_response(429, "the inference queue is full (" + std::to_string(options.queue_capacity) +
                                             " images waiting); retry shortly");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  done.wait();
  if (job.error) return error_response(*job.error);
  const auto t_inferred = Clock::now();

  auto rendered = render_outputs(*decoded, *job.prediction, selection);
  if (!rendered) return error_response(rendered.error());

  const PredictionRecord record = make_prediction_record(*decoded, *job.prediction);
  json j = to_json(record);
  j["mask_rle"] = prediction_rle(*job.prediction);
  j["model_sha256"] = summary.models.empty() ? "" : summary.models.front().sha256;
  j["models"] = models_json;
  j["postprocess"] = to_json(summary.postprocess);
  j["tta"] = summary.tta;
  OverlayOptions caption;
  caption.probability = job.prediction->image_probability;
  caption.positive = job.prediction->positive;
  j["caption"] = overlay_caption_lines(caption);
  j["batch_size"] = job.batch_size;
  if (selection.mask_png || selection.overlay_png || selection.seg || selection.sc) {
    json outputs = json::object();
    auto put = [&](const char* key, const std::optional<Bytes>& bytes) {
      if (bytes) outputs[key] = base64_encode(bytes->data(), bytes->size());
    };
    put("mask_png", rendered->mask_png);
    put("overlay_png", rendered->overlay_png);
    put("seg_dcm", rendered->seg);
    put("sc_dcm", rendered->sc);
    j["outputs"] = outputs;
  }
  const auto t_end = Clock::now();
  j["timings_ms"] = {{"decode", round3(ms_between(t0, t_decoded))},
                     {"queue", round3(job.queue_ms)},
                     {"inference", round3(job.inference_ms)},
                     {"outputs", round3(ms_between(t_inferred, t_end))},
                     {"total", round3(ms_between(t0, t_end))}};
  return json_response(j);
}

HttpResponse Service::Impl::static_file(const HttpRequest& req) {
  std::string rel = req.path == "/" ? "index.html" : req.path.substr(1);
  // Plain relative names only: no "..", no hidden files, no backslashes or odd characters.
  bool safe = !rel.empty() && rel.size() < 256;
  for (char c : rel) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == '_' || c == '/';
    safe = safe && ok;
  }
  for (std::string_view part : split(rel, '/')) safe = safe && !part.empty() && part.front() != '.';
  if (!safe) return error_response(404, "no such page: " + req.path.substr(0, 128));
  std::error_code ec;
  const bool have_root = !options.web_root.empty() && fs::is_directory(options.web_root, ec);
  if (!have_root) {
    if (rel != "index.html") return error_response(404, "no such page: " + req.path);
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = kPlaceholderPage;
    return r;
  }
  const fs::path file = options.web_root / rel;
  if (!fs::is_regular_file(file, ec)) return error_response(404, "no such page: " + req.path);
  auto bytes = read_file(file);
  if (!bytes) return error_response(500, "cannot read a page of the viewer");
  HttpResponse r;
  r.content_type = content_type_for(file);
  r.body = std::move(bytes.value());
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

namespace {

std::string worklist_label(const WorklistStudy& st) {
  std::string label = "#" + std::to_string(st.rank) + " ";
  if (st.status == "failed") return label + "failed: " + one_line(st.error).substr(0, 120);
  if (st.status == "pending" && !st.suspected) return label + "pending, received " + st.received_at;
  label += st.suspected.value_or(false) ? "SUSPECTED PNEUMOTHORAX" : "no finding";
  if (st.probability) {
    char p[32];
    std::snprintf(p, sizeof p, " (p = %.2f)", *st.probability);
    label += p;
  }
  if (st.suspected.value_or(false) && st.area_cm2) {
    char area[32];
    std::snprintf(area, sizeof area, ", %.1f cm2", *st.area_cm2);
    label += area;
  }
  if (!st.side.empty() && st.side != "none") label += ", " + st.side;
  return label + ", received " + st.received_at;
}

// A SOP Instance UID as the node stores it: what the node's SCP accepts as a file name.
bool plausible_stored_uid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64 || uid.front() == '.') return false;
  return std::all_of(uid.begin(), uid.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace

HttpResponse Service::worklist_response(const HttpRequest& req) const {
  const ServiceOptions& o = impl_->options;
  if (o.worklist_file.empty()) return error_response(404, "no worklist (start pneumo serve with --worklist FILE)");
  std::error_code ec;
  if (!fs::is_regular_file(o.worklist_file, ec)) return error_response(503, "the worklist file does not exist yet");
  auto wl = Worklist::open(o.worklist_file);
  if (!wl) return error_response(500, "cannot open the worklist");
  auto studies = wl->studies();
  if (!studies) return error_response(500, "cannot read the worklist");
  static constexpr std::string_view kImages = "/v1/worklist/images/";
  if (req.path == "/v1/worklist") {
    json items = json::array();
    for (const auto& st : *studies) {
      json item = {{"id", st.study_uid}, {"label", worklist_label(st)}};
      if (!st.sop_uids.empty()) item["url"] = std::string(kImages) + st.sop_uids.front();
      items.push_back(std::move(item));
    }
    json j = worklist_to_json(*studies);
    j["items"] = std::move(items);
    return json_response(j);
  }
  const std::string uid = req.path.substr(kImages.size());
  bool listed = false;
  for (const auto& st : *studies) {
    listed = listed || std::find(st.sop_uids.begin(), st.sop_uids.end(), uid) != st.sop_uids.end();
  }
  if (!plausible_stored_uid(uid) || !listed) return error_response(404, "no such image in the worklist");
  const fs::path storage = o.node_storage.empty() ? o.worklist_file.parent_path() : o.node_storage;
  auto bytes = read_file(storage / "images" / (uid + ".dcm"));
  if (!bytes) return error_response(404, "the worklist lists the image but the node's storage does not hold it");
  HttpResponse r;
  r.content_type = "application/dicom";
  r.body = std::move(bytes.value());
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

HttpResponse Service::handle(const HttpRequest& req) {
  Impl& s = *impl_;
  const auto start = Clock::now();
  const std::uint64_t id = ++s.request_counter;
  std::string route;
  HttpResponse r;
  const bool get = req.method == "GET" || req.method == "HEAD";
  auto only = [&](bool allowed, const char* allow) {
    if (allowed) return false;
    r = error_response(405, "method " + req.method.substr(0, 16) + " not allowed on " + route + " (allowed: " + allow + ")");
    r.headers.emplace_back("Allow", allow);
    return true;
  };
  try {
    if (req.path == "/v1/predict") {
      route = "/v1/predict";
      if (!only(req.method == "POST", "POST")) r = s.predict(req);
    } else if (req.path == "/health") {
      route = "/health";
      if (!only(get, "GET, HEAD")) r = json_response({{"status", "ok"}});
    } else if (req.path == "/ready") {
      route = "/ready";
      if (!only(get, "GET, HEAD")) {
        if (ready()) {
          r = json_response({{"status", "ready"}, {"models", s.models_json}});
        } else {
          r = error_response(503, s.shutting_down ? "shutting down" : "the model is still loading");
          r.headers.emplace_back("Retry-After", "2");
        }
      }
    } else if (req.path == "/metrics") {
      route = "/metrics";
      if (!only(get, "GET, HEAD")) {
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        r.body = metrics_text();
      }
    } else if (req.path == "/v1/worklist" || req.path.rfind("/v1/worklist/images/", 0) == 0) {
      route = req.path == "/v1/worklist" ? "/v1/worklist" : "/v1/worklist/images";
      if (!only(get, "GET, HEAD")) r = worklist_response(req);
    } else if (!req.path.empty() && req.path.front() == '/' && req.path.rfind("/v1/", 0) != 0) {
      route = "static";
      if (!only(get, "GET, HEAD")) r = s.static_file(req);
    } else {
      route = "other";
      r = error_response(404, "no such endpoint (POST /v1/predict, GET /health, /ready, /metrics, /v1/worklist)");
    }
  } catch (const std::exception& e) {
    r = error_response(500, std::string("internal error: ") + e.what());
  }
  r.headers.emplace_back("X-Request-Id", std::to_string(id));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  s.metrics.request(route, r.status, seconds);
  if (s.options.access_log) {
    char line[512];
    std::snprintf(line, sizeof line, "access id=%llu remote=%s method=%s route=%s status=%d ms=%.1f in=%zu out=%zu",
                  static_cast<unsigned long long>(id), req.remote.empty() ? "-" : one_line(req.remote.substr(0, 64)).c_str(),
                  one_line(req.method.substr(0, 16)).c_str(), route.c_str(), r.status, seconds * 1000.0, req.body.size(),
                  r.body.size());
    s.options.access_log(line);
  }
  return r;
}

}  // namespace pneumo
