// cpp-httplib glue and run_serve (signals, model loading, warm-up, graceful shutdown).
#include "pneumo/serve/http_server.hpp"

#include <httplib.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "pneumo/core/exit_codes.hpp"
#include "pneumo/core/parallel.hpp"
#include "pneumo/infer/prediction.hpp"

namespace pneumo {
namespace {

HttpRequest to_request(const httplib::Request& in) {
  HttpRequest r;
  r.method = in.method;
  r.path = in.path;
  for (const auto& [k, v] : in.params) r.query.emplace(k, v);
  for (const auto& [k, v] : in.headers) {
    std::string key = k;
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    r.headers.emplace(std::move(key), v);
  }
  r.remote = in.remote_addr;
  return r;
}

void apply(const HttpResponse& from, httplib::Response& to) {
  to.status = from.status;
  for (const auto& [k, v] : from.headers) to.set_header(k, v);
  to.set_content(from.body, from.content_type.c_str());
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(Service& s) : service(s) {}
  Service& service;
  httplib::Server server;
  std::atomic<bool> bound{false};
  std::atomic<bool> stop_requested{false};
};

HttpServer::HttpServer(Service& service) : impl_(std::make_unique<Impl>(service)) {
  Impl& s = *impl_;
  const ServiceOptions& o = service.options();
  const std::size_t threads = std::min<std::size_t>(
      1024, o.queue_capacity + static_cast<std::size_t>(std::max(1, o.workers) * std::max(1, o.max_batch)) + 4);
  s.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.server.set_read_timeout(30, 0);
  s.server.set_write_timeout(30, 0);
  s.server.set_keep_alive_max_count(1000);
  // Bodies of GET/DELETE/OPTIONS are buffered by httplib; bound them too.
  s.server.set_payload_max_length(o.max_body_bytes > (SIZE_MAX / 4) ? SIZE_MAX : o.max_body_bytes * 4 + (std::size_t{1} << 20));

  auto plain = [&s](const httplib::Request& req, httplib::Response& res) {
    apply(s.service.handle(to_request(req)), res);
  };
  // Bodies are read here, so that an oversized one is answered 413 by the service (with its JSON
  // error, access line and metrics) instead of a reset connection.
  auto with_body = [&s](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    HttpRequest r = to_request(req);
    const std::size_t limit = s.service.options().max_body_bytes;
    const std::size_t discard_limit = limit > (SIZE_MAX / 4) ? SIZE_MAX : limit * 4 + (std::size_t{1} << 20);
    std::size_t seen = 0;
    const bool complete = reader([&](const char* data, std::size_t length) {
      seen += length;
      if (!r.body_over_limit && r.body.size() + length <= limit) {
        r.body.append(data, length);
        return true;
      }
      if (!r.body_over_limit) {
        r.body_over_limit = true;
        std::string().swap(r.body);
      }
      return seen <= discard_limit;
    });
    if (!complete && !r.body_over_limit) {
      res.status = 400;
      res.set_content("{\"error\":{\"status\":400,\"code\":\"bad_request\",\"message\":\"incomplete request body\"}}\n",
                      "application/json");
      return;
    }
    apply(s.service.handle(r), res);
  };
  const char* any = "/.*";
  s.server.Get(any, plain);
  s.server.Post(any, with_body);
  s.server.Put(any, with_body);
  s.server.Patch(any, with_body);
  s.server.Delete(any, plain);
  s.server.Options(any, plain);
  // Requests the server answers itself (malformed request line, unknown method) still get a line.
  s.server.set_logger([&s](const httplib::Request& req, const httplib::Response& res) {
    if (res.has_header("X-Request-Id")) return;
    if (s.service.options().access_log) {
      s.service.options().access_log("access id=- remote=" + req.remote_addr + " method=- route=- status=" +
                                     std::to_string(res.status));
    }
  });
}

HttpServer::~HttpServer() { stop(); }

Result<int> HttpServer::bind(const std::string& host, int port) {
  Impl& s = *impl_;
  int bound = -1;
  if (port == 0) {
    bound = s.server.bind_to_any_port(host.c_str());
  } else if (s.server.bind_to_port(host.c_str(), port)) {
    bound = port;
  }
  if (bound <= 0) {
    return fail(ErrorCode::kIo, "serve: cannot listen on " + host + ":" + std::to_string(port) +
                                    " (address in use, or not an address of this machine?)");
  }
  s.bound = true;
  return bound;
}

Status HttpServer::listen() {
  Impl& s = *impl_;
  if (!s.bound) return fail(ErrorCode::kInvalidArgument, "serve: listen() before bind()");
  if (s.stop_requested) return ok_status();
  // httplib ignores stop() until its loop runs: a stop() that came in between is repeated here.
  std::atomic<bool> done{false};
  std::thread guard([&] {
    while (!done && !s.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!done && s.stop_requested) s.server.stop();
  });
  const bool ok = s.server.listen_after_bind();
  done = true;
  guard.join();
  if (!ok && !s.stop_requested) return fail(ErrorCode::kIo, "serve: the HTTP server stopped with an error");
  return ok_status();
}

void HttpServer::stop() {
  impl_->stop_requested = true;
  impl_->server.stop();
}

int run_serve(const ServeRunOptions& o) {
  // Signals: blocked in every thread (threads inherit the mask) and taken by one waiter thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Every HTTP thread allocates a request body and a decoded image (~1-2 MB each), and glibc would
  // give busy threads their own malloc arenas (up to 8 per core), each keeping its freed blocks;
  // four arenas bound that memory at the same throughput (docs/benchmarks.md).
  // MALLOC_ARENA_MAX in the environment still wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 4);

  std::vector<std::filesystem::path> model_files = o.model_files;
  if (model_files.empty()) {
    auto found = default_model_files("serve");
    if (!found) {
      std::fprintf(stderr, "pneumo: %s\n", found.error().message.c_str());
      return exit_code_for(found.error().code);
    }
    model_files = found.value();
  }
  if (o.service.workers < 1 || o.service.max_batch < 1 || o.service.queue_capacity < 1) {
    std::fprintf(stderr, "pneumo: serve: --workers, --max-batch and --queue must be at least 1\n");
    return kExitUsage;
  }

  ServiceOptions service_options = o.service;
  if (!service_options.access_log) {
    service_options.access_log = [](const std::string& line) { spdlog::info("{}", line); };
  }
  Service service(service_options);
  HttpServer http(service);
  auto port = http.bind(o.host, o.port);
  if (!port) {
    std::fprintf(stderr, "pneumo: %s\n", port.error().message.c_str());
    return exit_code_for(port.error().code);
  }
  std::printf("serve: listening on http://%s:%d (workers %d, max batch %d, queue %zu, web root %s)\n",
              o.host.c_str(), port.value(), o.service.workers, o.service.max_batch, o.service.queue_capacity,
              service_options.web_root.empty() ? "(placeholder page)" : service_options.web_root.string().c_str());
  std::fflush(stdout);

  std::mutex failure_mutex;
  std::optional<Error> failure;
  std::atomic<bool> finished{false};

  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (finished) return;
    spdlog::info("serve: {} received: no new connections, answering the accepted requests, then exiting",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    service.begin_shutdown();
    http.stop();
  });

  std::thread loader([&] {
    const int total_threads = o.threads > 0 ? o.threads : default_threads();
    std::vector<std::unique_ptr<InferenceEngine>> engines;
    ModelSummary summary;
    for (int w = 0; w < o.service.workers; ++w) {
      PredictorOptions p;
      p.model_files = model_files;
      p.device = o.device;
      p.threads = std::max(1, total_threads / o.service.workers);
      p.batch = o.service.max_batch;
      p.hflip_tta = o.hflip_tta;
      auto loaded = Predictor::load(p);
      if (!loaded) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        failure = loaded.error();
        break;
      }
      if (w == 0) {
        summary.models = loaded->models();
        summary.postprocess = loaded->postprocess();
        summary.tta = o.hflip_tta;
        summary.device = o.device;
      }
      engines.push_back(make_predictor_engine(std::move(loaded.value())));
    }
    if (!failure) {
      if (auto st = service.attach_engines(summary, std::move(engines)); !st) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        failure = st.error();
      } else {
        std::string shas;
        for (const auto& m : summary.models) shas += (shas.empty() ? "" : ", ") + m.sha256.substr(0, 12);
        spdlog::info("serve: ready ({} model file(s), sha256 {})", summary.models.size(), shas);
      }
    }
    if (failure) http.stop();
  });

  Status listened = http.listen();
  loader.join();
  service.begin_shutdown();
  service.stop_workers();
  finished = true;
  pthread_kill(signal_waiter.native_handle(), SIGTERM);  // wakes the waiter when no signal came
  signal_waiter.join();

  if (failure) {
    std::fprintf(stderr, "pneumo: %s\n", failure->message.c_str());
    return exit_code_for(failure->code);
  }
  if (!listened) {
    std::fprintf(stderr, "pneumo: %s\n", listened.error().message.c_str());
    return exit_code_for(listened.error().code);
  }
  spdlog::info("serve: stopped");
  return kExitOk;
}

}  // namespace pneumo
