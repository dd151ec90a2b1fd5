// SPDX-License-Identifier: GPL-2.0-or-later
// A real `pkgunify agent` process for the tests (test_agent.cpp,
// test_in_guest.cpp): its own runtime directory and registry, stopped by
// the destructor.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace pkgunify::itest {

class AgentProcess
{
public:
  // RUNTIME: its runtime directory (the guests' sockets, and the inode
  // locks and lift journal of its children); REGISTRY: its guests.d.
  AgentProcess(std::string runtime, std::string registry, std::string log);
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  void start(const std::string& policy, const std::vector<std::string>& extra = {});
  // Stops it (SIGTERM) and returns its wait status; -1 when not running.
  int stop();
  [[nodiscard]] bool alive() const;
  [[nodiscard]] pid_t
  pid() const
  {
    return m_pid;
  }

  // Registers guest NAME at ROOT (a file in the registry).
  void add(const std::string& name, const std::string& root) const;
  // RUNTIME/guests/NAME: what is bind-mounted into the guest at /run/pkgunify.
  [[nodiscard]] std::string socket_dir(const std::string& name) const;
  // Waits until guest NAME's socket exists (present) or not.
  bool wait_for_socket(const std::string& name, bool present = true,
                       std::chrono::seconds limit = std::chrono::seconds(10)) const;
  // What it logged so far.
  [[nodiscard]] std::string log() const;

private:
  std::string m_runtime;
  std::string m_registry;
  std::string m_log;
  pid_t m_pid = -1;
};

}  // namespace pkgunify::itest
