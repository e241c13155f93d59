#include "command.hpp"

namespace pneumo::cli {

void add_eval_command(CLI::App& app, Action& action) {
  (void)app;
  (void)action;
}

}  // namespace pneumo::cli
