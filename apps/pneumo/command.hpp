// The CLI's subcommands: each cmd_<name>.cpp adds one subcommand to the app, parses its flags,
// calls a module and maps errors to the named exit codes of pneumo/core/exit_codes.hpp.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "pneumo/core/exit_codes.hpp"
#include "pneumo/core/result.hpp"

namespace pneumo::cli {

// Set by the chosen subcommand's callback; main() runs it after parsing.
using Action = std::function<int()>;

// Prints "pneumo: <message>" on one line to stderr and returns the matching exit code.
int report_error(const Error& error);

// Flags shared by every subcommand.
struct GlobalOptions {
  int threads = 0;   // 0 = all cores
  bool quiet = false;  // no progress bars
};
const GlobalOptions& global_options();
int resolved_threads();

void add_rle_command(CLI::App& app, Action& action);
void add_dicom_command(CLI::App& app, Action& action);
void add_synth_command(CLI::App& app, Action& action);
void add_index_command(CLI::App& app, Action& action);
void add_stats_command(CLI::App& app, Action& action);
void add_train_command(CLI::App& app, Action& action);
void add_pretrain_command(CLI::App& app, Action& action);
void add_eval_command(CLI::App& app, Action& action);
void add_tune_command(CLI::App& app, Action& action);
void add_predict_command(CLI::App& app, Action& action);
void add_serve_command(CLI::App& app, Action& action);
void add_node_command(CLI::App& app, Action& action);
void add_worklist_command(CLI::App& app, Action& action);

}  // namespace pneumo::cli
