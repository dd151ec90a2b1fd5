// SPDX-License-Identifier: GPL-2.0-or-later
#include "agent_harness.hpp"

#include "harness.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace pkgunify::itest {

AgentProcess::AgentProcess(std::string runtime, std::string registry, std::string log)
  : m_runtime(std::move(runtime))
  , m_registry(std::move(registry))
  , m_log(std::move(log))
{
  make_dirs(m_registry);
}

AgentProcess::~AgentProcess()
{
  stop();
}

void
AgentProcess::start(const std::string& policy, const std::vector<std::string>& extra)
{
  // Its syncs keep their state with it: nothing in the host's /var/lib/pkgunify.
  std::vector<std::string> argv{"env",           "PKGUNIFY_RUNTIME_DIR=" + m_runtime,
                                PKGUNIFY_BINARY, "agent",
                                "--guests-dir",  m_registry,
                                "--policy",      policy,
                                "--state-dir",   m_runtime + "/sync-state"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const int log = ::open(m_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  m_pid = spawn_command(argv, log, log);
  ::close(log);
}

int
AgentProcess::stop()
{
  if (m_pid <= 0) {
    return -1;
  }
  ::kill(m_pid, SIGTERM);
  int status = 0;
  ::waitpid(m_pid, &status, 0);
  m_pid = -1;
  return status;
}

bool
AgentProcess::alive() const
{
  return m_pid > 0 && ::kill(m_pid, 0) == 0 && ::waitpid(m_pid, nullptr, WNOHANG) == 0;
}

void
AgentProcess::add(const std::string& name, const std::string& root) const
{
  write_text(m_registry + "/" + name + ".yaml", "root: " + root + "\n");
}

std::string
AgentProcess::socket_dir(const std::string& name) const
{
  return m_runtime + "/guests/" + name;
}

bool
AgentProcess::wait_for_socket(const std::string& name, bool present, std::chrono::seconds limit) const
{
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (exists(socket_dir(name) + "/agent.sock") == present) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::string
AgentProcess::log() const
{
  return exists(m_log) ? read_file(m_log) : std::string();
}

}  // namespace pkgunify::itest
