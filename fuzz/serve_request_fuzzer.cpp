// libFuzzer harness for the HTTP request handler of `pneumo serve` (issue 14): the input is split
// into method, path, query, headers and body, and Service::handle must answer every one with a
// status in 200..599, a JSON or text body, and never crash, hang or allocate without bound.
// The engine is a fake (no model): what is fuzzed is routing, query parsing, format sniffing,
// header-only size checks, DICOM/PNG/JPEG decoding from memory and the JSON response.
//
// Properties: a status in 200..599 other than 500 and a non-empty body; a JSON content type means the body parses
// as JSON, and an error status carries {"error": {"status": the same status, "message": one line}}.
// Built by fuzz/CMakeLists.txt when LibTorch is there (the service links the infer module):
// `bash scripts/fuzz.sh serve_request`, and replayed from fuzz/corpus/serve_request/ as a ctest.
// Seeds: raw requests in the format below, e.g. "POST\n/v1/predict\noutputs=mask\n
// content-type: application/dicom\n\n" followed by a small DICOM's bytes.
//
// Input format: line 1 method, line 2 path, line 3 query ("k=v&k2=v2", no decoding), then header
// lines "name: value" up to an empty line, then the body (the rest of the input).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "pneumo/serve/service.hpp"

namespace {

using namespace pneumo;

class FakeEngine : public InferenceEngine {
 public:
  Result<std::vector<ImagePrediction>> predict(const std::vector<Image8>& images) override {
    std::vector<ImagePrediction> out;
    for (const Image8& img : images) {
      ImagePrediction p;
      p.mask = Mask(img.rows, img.cols);
      for (std::size_t i = 0; i < img.px.size(); ++i) p.mask.px[i] = img.px[i] > 200 ? 1 : 0;
      p.positive = count_nonzero(p.mask) > 0;
      p.image_probability = p.positive ? 0.9f : 0.1f;
      out.push_back(std::move(p));
    }
    return out;
  }
};

Service& service() {
  static Service* s = [] {
    ServiceOptions o;
    o.max_body_bytes = 8u << 20;
    o.max_pixels = 4096u * 4096u;
    o.batch_window = std::chrono::milliseconds(0);
    auto* created = new Service(o);
    std::vector<std::unique_ptr<InferenceEngine>> engines;
    engines.push_back(std::make_unique<FakeEngine>());
    ModelSummary summary;
    if (!created->attach_engines(summary, std::move(engines))) std::abort();
    return created;
  }();
  return *s;
}

std::string_view next_line(std::string_view& in) {
  const std::size_t end = in.find('\n');
  std::string_view line = in.substr(0, end);
  in.remove_prefix(end == std::string_view::npos ? in.size() : end + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  HttpRequest req;
  req.method = std::string(next_line(in));
  req.path = std::string(next_line(in));
  for (std::string_view q = next_line(in); !q.empty();) {
    const std::size_t amp = q.find('&');
    const std::string_view kv = q.substr(0, amp);
    const std::size_t eq = kv.find('=');
    req.query.emplace(std::string(kv.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(kv.substr(eq + 1)));
    q.remove_prefix(amp == std::string_view::npos ? q.size() : amp + 1);
  }
  while (!in.empty()) {
    const std::string_view line = next_line(in);
    if (line.empty()) break;
    const std::size_t colon = line.find(':');
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers.emplace(std::move(name), std::string(value));
  }
  req.body = std::string(in);
  const HttpResponse res = service().handle(req);
  if (res.status < 200 || res.status > 599 || res.body.empty()) std::abort();
  // The fake engine never fails and there is no web root or worklist to read: a 500 here can only
  // be an exception escaping the request handling, i.e. a bug.
  if (res.status == 500) std::abort();
  if (res.content_type == "application/json") {
    const nlohmann::json j = nlohmann::json::parse(res.body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) std::abort();
    if (res.status >= 400) {
      if (!j.contains("error") || j["error"].value("status", 0) != res.status) std::abort();
      const std::string message = j["error"].value("message", std::string());
      if (message.empty() || message.find('\n') != std::string::npos) std::abort();
    }
  }
  return 0;
}
