// cpp-httplib in front of a Service, and `pneumo serve` as one blocking call.
//
//   pneumo::HttpServer http(service);
//   auto port = http.bind("127.0.0.1", 0);   // Result<int>: 0 picks a free port
//   std::thread t([&] { http.listen(); });    // returns after stop()
//   ...; http.stop(); t.join();
//
//   pneumo::ServeRunOptions o;  o.port = 8080;  o.model_files = {...};
//   int exit_code = pneumo::run_serve(o);     // until SIGTERM/SIGINT
//
// Bodies are read by the server up to ServiceOptions::max_body_bytes; a longer body is read on
// (up to 4x the limit, so the client sees the answer instead of a reset connection) and discarded,
// and the request is answered 413. Connections beyond the handler threads wait in the server's
// accept queue; handler threads = queue_capacity + workers x max_batch + 4 (at most 1024), so a
// full service queue is reached and answered 429 rather than hidden in the server's own queue.
//
// Thread-safety: bind, listen and stop may be called from different threads; stop is idempotent.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pneumo/core/result.hpp"
#include "pneumo/serve/service.hpp"

namespace pneumo {

class HttpServer {
 public:
  explicit HttpServer(Service& service);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port) and returns the port. kIo naming host:port on failure.
  Result<int> bind(const std::string& host, int port);
  // Serves until stop(); requests accepted before stop() are answered first.
  Status listen();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ServeRunOptions {
  std::vector<std::filesystem::path> model_files;  // empty: default_model_files("serve")
  std::string host = "127.0.0.1";
  int port = 8080;
  ServiceOptions service;
  std::string device = "cpu";
  bool hflip_tta = false;
  int threads = 0;  // torch intra-op threads in all (0: all cores), shared by the workers
};

// Binds, prints "serve: listening on http://HOST:PORT ..." on stdout, loads one Predictor per
// worker and warms them up (/ready 503 until then), serves until SIGTERM or SIGINT, then stops
// accepting, answers the requests already accepted and returns kExitOk. Model or bind failures:
// the message on stderr and the matching exit code.
int run_serve(const ServeRunOptions& options);

}  // namespace pneumo
