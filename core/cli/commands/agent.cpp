// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify agent: the host service that serves the registered guests on
// their sockets (agent/agent.hpp, pkgunify-agent(8)).
#include "agent/agent.hpp"
#include "cli/commands/commands.hpp"
#include "engine/guests.hpp"
#include "guest/runtime.hpp"
#include "sys/exceptions.hpp"

#include <unistd.h>

#include <climits>

namespace pkgunify::cli {

namespace {

// This very program, for the jobs: the agent runs the pkgunify it is.
std::string
self_program()
{
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) {
    throw ConfigError("readlink /proc/self/exe: cannot find the pkgunify program");
  }
  return std::string(buf, static_cast<std::size_t>(n));
}

class AgentCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("agent", "Serve the registered guests on their sockets, so that their own "
                                        "package managers can upgrade unified files (a service)");
    m_cmd->add_option("--runtime-dir", m_o.runtime_dir,
                      "Runtime directory: the guests' sockets are RUNTIME/guests/NAME/agent.sock "
                      "(default: "
                        + runtime_dir_path() + ")");
    m_cmd->add_option("--guests-dir", m_o.guests_dir, "The guest registry (default: " + guests_dir() + ")");
    m_cmd->add_option("--policy", m_o.policy, "Policy for the guests whose entry names none");
    m_cmd->add_option("--state-dir", m_o.state_dir,
                      "Where the guests' syncs remember their roots (default: /var/lib/pkgunify/sync)");
    m_cmd->add_option("--jobs,-j", m_o.limits.jobs, "Requests carried out at once, all guests together")
      ->check(CLI::Range(1, 64));
    m_cmd->add_option("--request-timeout", m_request_s, "Seconds a client has to send its whole request")
      ->check(CLI::Range(1, 3600));
  }

  std::unique_ptr<Report>
  run() override
  {
    if (m_o.runtime_dir.empty()) {
      m_o.runtime_dir = runtime_dir_path();
    }
    if (m_o.guests_dir.empty()) {
      m_o.guests_dir = guests_dir();
    }
    make_absolute(m_o.runtime_dir);
    make_absolute(m_o.guests_dir);
    make_absolute(m_o.policy);
    make_absolute(m_o.state_dir);
    m_o.program = self_program();
    m_o.limits.request_time = std::chrono::seconds(m_request_s);
    CliReporter reporter(Progress::hidden);
    return std::make_unique<SilentReport>(agent::run_agent(m_o, reporter));
  }

private:
  agent::Options m_o;
  long m_request_s = 10;
};

}  // namespace

std::unique_ptr<Command>
make_agent_command()
{
  return std::make_unique<AgentCommand>();
}

}  // namespace pkgunify::cli
