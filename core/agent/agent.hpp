// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify agent` (pkgunify-agent(8), docs/guests.md): the host service
// that lets guests run their own package managers. Every guest of the
// registry (engine/guests.hpp) gets a Unix socket of its own,
// RUNTIME/guests/NAME/agent.sock, meant to be bind-mounted into the guest
// at /run/pkgunify. A request (guest/agent_protocol.hpp) is served only for
// a peer whose root directory is that guest's root, and only on that guest:
// each is carried out by a pkgunify child process on the guest's root,
// which resolves every path beneath it.
//
// Nothing a guest sends can make the agent block: one thread polls every
// socket and pipe without blocking; requests are bounded in size, fields and
// time; each guest has a bounded number of connections and queued jobs, and
// one job at a time; children have time limits.
#pragma once

#include "sys/reporter.hpp"

#include <chrono>
#include <cstddef>
#include <string>

namespace pkgunify::agent {

struct Limits
{
  std::size_t connections_per_guest = 8;               // open at once (reading, waiting, answering)
  std::size_t queued_per_guest = 8;                    // jobs not started yet, waited for or not
  std::size_t queued_bytes = std::size_t{64} << 20;    // jobs waiting, all guests
  std::size_t buffered_bytes = std::size_t{64} << 20;  // requests being read, all guests
  std::size_t connections = 1024;                      // all guests
  unsigned jobs = 2;                                   // children at once, all guests
  std::chrono::milliseconds request_time{10'000};      // from accept to the whole request
  std::chrono::milliseconds answer_time{10'000};       // to take the answer
  std::chrono::seconds release_time{600};              // release, release-packages, dpkg-release
  std::chrono::seconds unify_time{3600};               // unify, sync
  std::chrono::seconds status_time{300};
  std::chrono::seconds rescan{30};  // the registry is read again (also on SIGHUP, and when it changes)
};

struct Options
{
  std::string runtime_dir;  // the guests' sockets are in RUNTIME/guests
  std::string guests_dir;   // the registry
  std::string program;      // the pkgunify that carries out requests
  std::string policy;       // for guests whose entry names none (empty: pkgunify's default)
  std::string state_dir;    // sync's state (empty: sync's default, /var/lib/pkgunify/sync)
  Limits limits;
};

// Serves until SIGTERM or SIGINT (then waits for running jobs, at most
// 30 s), reading the registry again on SIGHUP. Logs through `log`.
// Returns the exit status; throws ConfigError when it cannot start.
int run_agent(const Options& options, Reporter& log);

}  // namespace pkgunify::agent
