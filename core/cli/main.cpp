// The pkgunify command: a thin front end over the core library. Each
// command is one unit (commands/); this parses the command line and runs the
// one it names.
//
// Exit status: 0 all went well; 1 some files (or objects) failed, each named
// on stderr; 2 usage or configuration error.
#include "cli/command.hpp"
#include "cli/commands/commands.hpp"
#include "cli/common.hpp"

#include <CLI/CLI.hpp>

#include <iostream>

int
main(int argc, char** argv)
{
  using namespace pkgunify::cli;
  CLI::App app{"pkgunify: unify identical files of many guest roots into a hash store"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pkgunify 0.1.0");
  const auto commands = make_commands();
  for (const auto& command : commands) {
    command->add_to(app);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return k_exit_usage;
  }
  raise_fd_limit();
  for (const auto& command : commands) {
    if (command->chosen()) {
      return run_command(*command, std::cout);
    }
  }
  return k_exit_usage;
}
