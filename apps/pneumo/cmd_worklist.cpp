// pneumo worklist: prints the triage worklist a `pneumo node` keeps (SQLite), in priority order.
#include <cstdio>
#include <memory>
#include <string>

#include "command.hpp"
#include "pneumo/worklist/worklist.hpp"

namespace pneumo::cli {

void add_worklist_command(CLI::App& app, Action& action) {
  struct Flags {
    std::string db;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  CLI::App* cmd = app.add_subcommand(
      "worklist",
      "Print the triage worklist of `pneumo node`: one line per study, suspected pneumothorax first, larger area "
      "first, then oldest; pending, negative and failed studies after (see docs/node.md).");
  cmd->add_option("--db", f->db, "Worklist database (the node's --worklist file)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", f->json, "Print JSON {\"studies\": [...]} instead of a table");
  cmd->callback([f, &action] {
    action = [f]() -> int {
      auto wl = Worklist::open(f->db);
      if (!wl) return report_error(wl.error());
      auto studies = wl->studies();
      if (!studies) return report_error(studies.error());
      if (f->json) {
        std::printf("%s\n", worklist_to_json(*studies).dump(2).c_str());
      } else {
        std::fputs(worklist_to_table(*studies).c_str(), stdout);
      }
      return kExitOk;
    };
  });
}

}  // namespace pneumo::cli
