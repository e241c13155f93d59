#include "command.hpp"

namespace pneumo::cli {

void add_tune_command(CLI::App& app, Action& action) {
  (void)app;
  (void)action;
}

}  // namespace pneumo::cli
