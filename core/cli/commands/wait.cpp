// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify wait: waits until the background unification of a root (the rpm
// plugin's worker) is done.
#include "cli/commands/commands.hpp"
#include "guest/background.hpp"

#include <chrono>
#include <iostream>

namespace pkgunify::cli {

namespace {

class WaitCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("wait", "Wait until the background unification of a root (rpm plugin) is done");
    m_cmd->add_option("--root", m_root, "Root (default: /)");
    m_cmd->add_option("--timeout", m_timeout, "Give up after this many seconds (exit status 1)")
      ->check(CLI::PositiveNumber);
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_root);
    const std::string root = m_root.empty() ? "/" : m_root;
    if (!wait_for_background(root, std::chrono::seconds(m_timeout))) {
      std::cerr << "pkgunify: the background unification of " << root << " still runs after " << m_timeout << " s\n";
      return std::make_unique<SilentReport>(k_exit_failures);
    }
    return std::make_unique<SilentReport>(k_exit_ok);
  }

private:
  std::string m_root;
  long m_timeout = 3600;
};

}  // namespace

std::unique_ptr<Command>
make_wait_command()
{
  return std::make_unique<WaitCommand>();
}

}  // namespace pkgunify::cli
