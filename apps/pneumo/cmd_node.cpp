// pneumo node: flags and node.json -> NodeConfig -> run_node until SIGINT/SIGTERM.
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"

#ifdef PNEUMO_HAVE_TORCH
#include <atomic>

#include "pneumo/node/node.hpp"
#endif

namespace pneumo::cli {

#ifdef PNEUMO_HAVE_TORCH
namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

struct NodeFlags {
  std::string config, aet, storage, worklist, destination;
  std::vector<std::string> models;
  int port = 0, workers = 0, batch = 0;
};

int run_node_command(const NodeFlags& f) {
  NodeConfig c;
  if (!f.config.empty()) {
    if (auto st = load_node_config(f.config, c); !st) return report_error(st.error());
  }
  // Flags win over the config file.
  if (!f.aet.empty()) c.ae_title = f.aet;
  if (f.port > 0) c.port = f.port;
  if (!f.storage.empty()) c.storage = f.storage;
  if (!f.worklist.empty()) c.worklist = f.worklist;
  if (!f.destination.empty()) {
    auto d = parse_destination(f.destination);
    if (!d) return report_error(d.error());
    c.destination = *d;
  }
  if (!f.models.empty()) c.models.assign(f.models.begin(), f.models.end());
  if (f.workers > 0) c.workers = f.workers;
  if (f.batch > 0) c.batch = f.batch;
  if (global_options().threads > 0) c.threads = global_options().threads;
  if (c.storage.empty()) return report_error(fail(ErrorCode::kInvalidArgument, "node: --storage (or \"storage\") is required"));
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (auto st = run_node(c, g_stop); !st) return report_error(st.error());
  return kExitOk;
}

}  // namespace

void add_node_command(CLI::App& app, Action& action) {
  auto f = std::make_shared<NodeFlags>();
  CLI::App* cmd = app.add_subcommand(
      "node",
      "Run a DICOM node: C-ECHO/C-STORE SCP for CR/DX/SC chest X-rays, persistent job queue, model workers, "
      "C-STORE of SEG + Secondary Capture + TID 1500 SR to --destination, triage worklist (see docs/node.md). "
      "Stops on SIGINT/SIGTERM.");
  cmd->add_option("--config", f->config, "node.json with the same keys (flags override it)")->check(CLI::ExistingFile);
  cmd->add_option("--aet", f->aet, "Our AE title (default PNEUMO)");
  cmd->add_option("--port", f->port, "DICOM port to listen on (default 11112)")->check(CLI::Range(1, 65535));
  cmd->add_option("--storage", f->storage, "Folder for received images, results and the job queue");
  cmd->add_option("--worklist", f->worklist, "Worklist database (default <storage>/worklist.db)");
  cmd->add_option("--destination", f->destination, "Where results go: AET@HOST:PORT (the PACS)");
  cmd->add_option("--model", f->models, "Model file(s) (default: as predict, the shipped model)")->check(CLI::ExistingFile);
  cmd->add_option("--workers", f->workers, "Model worker threads (default 1)")->check(CLI::PositiveNumber);
  cmd->add_option("--batch", f->batch, "Images per forward pass when several wait (default 4)")->check(CLI::PositiveNumber);
  cmd->callback([f, &action] { action = [f] { return run_node_command(*f); }; });
}

#else

void add_node_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("node", "Run a DICOM node (needs a build with LibTorch)");
  cmd->allow_extras();
  cmd->callback([&action] {
    action = [] { return report_error(fail(ErrorCode::kUnsupported, "node: this pneumo was built without LibTorch")); };
  });
}

#endif

}  // namespace pneumo::cli
