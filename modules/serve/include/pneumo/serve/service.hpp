// `pneumo serve`: an HTTP inference service over the infer module. The request handling is a
// plain function of (method, path, query, headers, body) -> response, so it can be tested and
// fuzzed without sockets; serve/http_server.hpp puts cpp-httplib in front of it.
//
//   pneumo::ServiceOptions opt;  opt.workers = 2;  opt.max_batch = 4;
//   pneumo::Service service(opt);                       // /health 200, /ready 503
//   service.attach_engines(summary, std::move(engines)); // warms up; /ready 200
//   pneumo::HttpResponse r = service.handle({.method = "POST", .path = "/v1/predict", .body = dicom});
//   service.stop_workers();                              // after the HTTP server has stopped
//
// API (docs/serve.md has the details and curl examples):
//   POST /v1/predict[?outputs=mask,overlay,seg,sc][&image_id=ID]  body: one DICOM, PNG or JPEG
//        -> 200 application/json: the prediction record (the same object predictions.json holds per
//        image: image_id, probability, positive, mask_area_px, mask_area_cm2, side, ...), plus
//        mask_rle (SIIM relative RLE at the source size, "-1" when empty), model_sha256, models,
//        postprocess, caption (the overlay's burned-in lines), batch_size, timings_ms
//        {decode, queue, inference, outputs, total} and, when asked for, outputs {mask_png,
//        overlay_png, seg_dcm, sc_dcm} as base64 strings (seg/sc for DICOM inputs only).
//   GET /health   200 while the process runs.       GET /ready  200 once the model is warmed up,
//   503 before and while shutting down.              GET /metrics  Prometheus text format.
//   GET /v1/worklist  (with worklist_file) 200 {"items": [{id, label, url}], "studies": [...]}:
//        the node's studies in priority order (pneumo/worklist/worklist.hpp), each item's url the
//        study's first image; GET /v1/worklist/images/<SOP Instance UID>  application/dicom, only
//        for images the worklist lists.
//   GET /, /<file>  the viewer page (web_root), or a placeholder page when there is none.
// Errors: {"error": {"status": N, "code": "...", "message": "one line"}} with status from
// http_status_for (ErrorCode) or the service's own: 413 body or image too large, 415 body not
// DICOM/PNG/JPEG, 429 queue full (Retry-After), 503 not ready (Retry-After), 404, 405.
//
// Concurrency: handle() runs on the HTTP server's threads; it decodes the body and renders the
// outputs on that thread, and puts the image on a bounded queue (queue_capacity waiting images;
// full -> 429). `workers` threads each own one InferenceEngine (a Predictor is used by one thread
// at a time) and take up to max_batch images per forward pass: after the first image they wait at
// most batch_window for more (dynamic batching).
// Logs: one access line per request (method, route, status, latency, body sizes); never patient
// identifiers, image ids or file names.
//
// Thread-safety: handle(), ready() and metrics are safe from any thread; attach_engines and
// stop_workers are called once each, from the owning thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pneumo/core/result.hpp"
#include "pneumo/eval/postprocess.hpp"
#include "pneumo/infer/predictor.hpp"

namespace pneumo {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query string
  std::multimap<std::string, std::string> query;    // decoded parameters
  std::multimap<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool body_over_limit = false;  // the server stopped reading the body at max_body_bytes
  std::string remote;            // client address, for the access log
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (Retry-After, Allow)
};

// ErrorCode -> HTTP status, the one mapping: kInvalidArgument 400, kBadInput 400 (malformed body),
// kUnsupported 422 (a DICOM/PNG/JPEG pneumo does not handle: JPEG 2000, colour, multi-frame),
// kNotFound 404, kIo 500, kInternal 500.
int http_status_for(ErrorCode code);

// What a worker runs images through: a Predictor in `pneumo serve`, fakes in tests and fuzzing.
class InferenceEngine {
 public:
  virtual ~InferenceEngine() = default;
  virtual Result<std::vector<ImagePrediction>> predict(const std::vector<Image8>& images) = 0;
};

// A Predictor as an engine (it is used by one worker thread only).
std::unique_ptr<InferenceEngine> make_predictor_engine(Predictor predictor);

// What the responses and /metrics say about the model.
struct ModelSummary {
  std::vector<ModelFileInfo> models;
  PostprocessParams postprocess;
  bool tta = false;
  std::string device = "cpu";
};

struct ServiceOptions {
  int workers = 1;                    // inference threads, one engine each
  int max_batch = 4;                  // images per forward pass
  std::chrono::milliseconds batch_window{5};  // how long a worker waits to fill a batch
  std::size_t queue_capacity = 64;    // images waiting for a worker; more -> 429
  std::size_t max_body_bytes = std::size_t{64} << 20;
  std::uint64_t max_pixels = std::uint64_t{1} << 26;  // rows x cols x frames; 8192 x 8192 (a chest CR is ~3000 x 3000)
  std::filesystem::path web_root;     // the viewer's files; empty or missing: a placeholder page
  // The DICOM node's triage worklist (SQLite, read-only here) and its storage folder, whose
  // images/<SOP Instance UID>.dcm the worklist routes serve. Empty worklist_file: the routes
  // answer 404 and the viewer hides its worklist panel. Empty node_storage: the worklist file's
  // folder (the node's default layout).
  std::filesystem::path worklist_file;
  std::filesystem::path node_storage;
  std::function<void(const std::string& line)> access_log;  // one line per request; null: none
};

class Service {
 public:
  explicit Service(ServiceOptions options);
  ~Service();  // stop_workers()
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Installs one engine per worker (engines.size() must equal options.workers, else
  // kInvalidArgument), runs one warm-up prediction through each and starts the workers; /ready is
  // 200 afterwards. A failing warm-up is returned and the service stays not ready.
  Status attach_engines(ModelSummary summary, std::vector<std::unique_ptr<InferenceEngine>> engines);

  HttpResponse handle(const HttpRequest& request);

  bool ready() const;
  // /ready answers 503 from now on (load balancers stop sending); requests already accepted are
  // still served.
  void begin_shutdown();
  // Lets the workers finish every queued image, then joins them. Call after the HTTP server has
  // stopped handing in requests.
  void stop_workers();

  const ServiceOptions& options() const;
  std::string metrics_text() const;  // what GET /metrics returns

 private:
  HttpResponse worklist_response(const HttpRequest& request) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const std::uint8_t* data, std::size_t size);

}  // namespace pneumo
