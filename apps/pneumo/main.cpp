// pneumo: pneumothorax detection and segmentation on chest X-rays.
#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>

#include "command.hpp"
#include "pneumo/core/parallel.hpp"

namespace pneumo::cli {
namespace {
GlobalOptions g_options;
}

const GlobalOptions& global_options() { return g_options; }
int resolved_threads() { return g_options.threads > 0 ? g_options.threads : default_threads(); }

int report_error(const Error& error) {
  std::fprintf(stderr, "pneumo: %s\n", error.message.c_str());
  return exit_code_for(error.code);
}

}  // namespace pneumo::cli

int main(int argc, char** argv) {
  using namespace pneumo;
  auto logger = spdlog::stderr_color_mt("pneumo");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%^[%l]%$ %v");
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug

  CLI::App app{"pneumo " PNEUMO_VERSION
               " - pneumothorax detection and segmentation on chest X-rays (SIIM-ACR format)"};
  app.set_version_flag("--version", "pneumo " PNEUMO_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global flags such as --threads may follow the subcommand
  app.footer(exit_code_help());
  app.add_option("--threads", const_cast<cli::GlobalOptions&>(cli::global_options()).threads,
                 "Worker threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--quiet,-q", const_cast<cli::GlobalOptions&>(cli::global_options()).quiet,
               "No progress bars");

  cli::Action action;
  cli::add_synth_command(app, action);
  cli::add_stats_command(app, action);
  cli::add_train_command(app, action);
  cli::add_pretrain_command(app, action);
  cli::add_eval_command(app, action);
  cli::add_tune_command(app, action);
  cli::add_predict_command(app, action);
  cli::add_serve_command(app, action);
  cli::add_node_command(app, action);
  cli::add_worklist_command(app, action);
  cli::add_index_command(app, action);
  cli::add_dicom_command(app, action);
  cli::add_rle_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!action) return kExitOk;
  try {
    return action();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pneumo: internal error: %s\n", e.what());
    return kExitInternal;
  }
}
