// pneumo serve: flags -> ServeRunOptions -> run_serve (the HTTP service; docs/serve.md).
#include <string>
#include <vector>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include "pneumo/infer/prediction.hpp"
#include "pneumo/serve/http_server.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

struct ServeFlags {
  std::vector<std::string> models;
  std::string host = "127.0.0.1", device = "cpu", web_root, worklist, node_storage;
  int port = 8080, workers = 1, max_batch = 4, batch_window_ms = 5;
  double max_body_mb = 64;
  std::size_t queue = 64;
  std::uint64_t max_pixels = std::uint64_t{1} << 26;
  bool tta = false;
};

int run(const ServeFlags& f) {
  ServeRunOptions o;
  o.model_files.assign(f.models.begin(), f.models.end());
  o.host = f.host;
  o.port = f.port;
  o.device = f.device;
  o.hflip_tta = f.tta;
  o.threads = resolved_threads();
  o.service.workers = f.workers;
  o.service.max_batch = f.max_batch;
  o.service.batch_window = std::chrono::milliseconds(f.batch_window_ms);
  o.service.queue_capacity = f.queue;
  o.service.max_body_bytes = static_cast<std::size_t>(f.max_body_mb * 1024.0 * 1024.0);
  o.service.max_pixels = f.max_pixels;
  o.service.worklist_file = f.worklist;
  o.service.node_storage = f.node_storage;
  if (!f.web_root.empty()) {
    o.service.web_root = f.web_root;
  } else if (auto found = find_shipped_resource("web", "web")) {
    o.service.web_root = *found;
  }
  return run_serve(o);
}

}  // namespace

void add_serve_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "HTTP inference service: POST /v1/predict (DICOM/PNG/JPEG body -> JSON with probability, mask RLE, area, "
      "side; ?outputs=mask,overlay,seg,sc adds base64 objects), GET /health, /ready, /metrics, and the viewer at /. "
      "Stops on SIGTERM/SIGINT after answering accepted requests. See docs/serve.md.");
  cmd->add_option("--model", f->models,
                  "Model file(s), as for predict (default: $PNEUMO_MODEL, then the shipped models/pneumo-siim.pneumo)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--host", f->host, "Address to listen on (0.0.0.0: every interface)")->capture_default_str();
  cmd->add_option("--port", f->port, "TCP port (0: any free port, printed at start)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--workers", f->workers, "Inference threads, each with its own copy of the model")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--max-batch", f->max_batch, "Images per forward pass (concurrent requests are batched)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--batch-window-ms", f->batch_window_ms, "How long a worker waits to fill a batch")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  cmd->add_option("--max-body-mb", f->max_body_mb, "Largest request body; larger ones get 413")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 4096.0));
  cmd->add_option("--max-pixels", f->max_pixels, "Largest image (rows x columns x frames); larger ones get 413")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--queue", f->queue, "Images that may wait for a worker; more get 429 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--web-root", f->web_root,
                  "Folder with the viewer page (default: <exe>/../share/pneumo/web, or the checkout's web/)");
  cmd->add_option("--worklist", f->worklist,
                  "pneumo node's worklist database: GET /v1/worklist lists it and the viewer shows it (docs/node.md)");
  cmd->add_option("--node-storage", f->node_storage,
                  "pneumo node's --storage folder, for opening a worklist study (default: the worklist file's folder)");
  cmd->add_option("--device", f->device, "cpu | cuda | auto")->capture_default_str();
  cmd->add_flag("--tta", f->tta, "Average with the horizontally flipped image");
  cmd->callback([f, &action] { action = [f] { return run(*f); }; });
}

#else

void add_serve_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("serve", "HTTP inference service (needs a build with LibTorch)");
  cmd->allow_extras();
  cmd->fallthrough(false);
  cmd->callback([&action] {
    action = [] {
      return report_error(fail(ErrorCode::kUnsupported,
                               "serve: this pneumo was built without LibTorch; install libtorch-dev and rebuild"));
    };
  });
}

#endif

}  // namespace pneumo::cli
