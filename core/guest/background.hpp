// SPDX-License-Identifier: GPL-2.0-or-later
// Running the pkgunify command for package-manager hooks: in the background
// (the rpm plugin's worker), or waited for with its messages passed on; the
// per-root lock a worker holds; and the memory of a hook configuration that
// was checked. Light on purpose: no policy parser and no hash implementation,
// so that the rpm plugin links this without loading either into rpm.
#pragma once

#include "sys/fd.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

// The policy a hook uses when none is named.
inline constexpr const char* k_system_policy_path = "/etc/pkgunify/pkgunify.yaml";

// The lock a background worker holds while it unifies a root:
// /run/pkgunify/hook-<16 hex of FNV-1a 64 of the real path of root>.lock
// (two roots that share a name only share a lock: they take turns).
std::string hook_lock_path(const std::string& root);

// How long the next transaction waits for the worker of the one before.
inline constexpr std::chrono::seconds k_worker_wait{120};

// Waits until no background worker unifies `root` (the next transaction on
// that root, and `pkgunify wait`, call it), at most `timeout`: false when
// the worker still runs then (the caller goes on: the worker's exchanges
// are verified, it only competes).
bool wait_for_background(const std::string& root, std::chrono::milliseconds timeout = k_worker_wait) noexcept;

struct Command
{
  std::vector<std::string> argv;  // argv[0]: the program's absolute path
  std::string input;              // given on its standard input
};

// Commands run in "/": their arguments must be absolute paths.

// Starts `command` in a detached process (after waiting at most k_worker_wait
// for the worker before it) (its own session, adopted by init)
// that holds the hook lock of `root` from before this returns until it ends.
// Standard output and error go to /dev/null: the command logs on its own.
// The command is executed only once the returned descriptor (the write end of
// a pipe, close-on-exec) is closed: the caller closes it when it is done
// with the root (rpm: when the transaction set is freed, or at exit), so
// that the worker does not compete with the package manager's last writes.
// An invalid descriptor: nothing was started.
sys::Fd start_in_background(const Command& command, const std::string& root) noexcept;

// Runs `command` and waits for it; every line it writes to standard output
// or error is passed to `line`. Returns its exit status, or -1 when it could
// not be run or was killed (reported through `line`).
int run_command(const Command& command, const std::function<void(std::string_view)>& line) noexcept;

// A hook's configuration check (policy parses; link mode iunlink has its
// kernel) depends on the policy file, the pkgunify program and the boot.
// The check remembers a success in /run/pkgunify, and a hook skips it while
// none of these changed. `policy_file` as the hook was given it (empty: the
// system policy); `program`: the pkgunify binary.
bool hook_config_checked(const std::string& policy_file, const std::string& program) noexcept;
void remember_hook_config(const std::string& policy_file, const std::string& program) noexcept;

}  // namespace pkgunify
