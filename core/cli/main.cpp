// SPDX-License-Identifier: GPL-2.0-or-later
// The pkgunify command: a thin front end over the core library. Each
// command is one unit (commands/); this parses the command line and runs the
// one it names.
//
// Exit status: 0 all went well; 1 some files (or objects) failed, each named
// on stderr; 2 usage or configuration error; 128 + N stopped by signal N
// (SIGINT 130, SIGTERM 143, SIGHUP 129), with every shared file protected
// again (sys/signals.hpp).
#include "cli/command.hpp"
#include "cli/commands/commands.hpp"
#include "cli/common.hpp"
#include "guest/runtime.hpp"
#include "sys/signals.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <iostream>

int
main(int argc, char** argv)
{
  using namespace pkgunify::cli;
  CLI::App app{"pkgunify: unify identical files of many guest roots into a hash store"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pkgunify " PKGUNIFY_VERSION);
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
  pkgunify::sys::defer_termination_signals();
  if (::geteuid() == 0) {
    // What a killed run left lifted is protected again before anything else.
    CliReporter reporter(Progress::hidden);
    pkgunify::recover_lifted(reporter);
  }
  for (const auto& command : commands) {
    if (command->chosen()) {
      return run_command(*command, std::cout);
    }
  }
  return k_exit_usage;
}
