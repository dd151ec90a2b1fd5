// SPDX-License-Identifier: GPL-2.0-or-later
// The host's processes as /proc shows them: each one's root directory and
// capability bounding set, for the warnings of `pkgunify guest list`.
#pragma once

#include "sys/error.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pkgunify::sys {

struct ProcessInfo
{
  pid_t pid = 0;
  std::string comm;    // /proc/PID/comm, as the process set it (any bytes)
  dev_t root_dev = 0;  // its root directory (/proc/PID/root)
  ino_t root_ino = 0;
  std::uint64_t cap_bnd = 0;  // CapBnd of /proc/PID/status
};

// Every process whose root and status this process may read; one that exits
// meanwhile, or whose root is hidden from it (another user's, without
// CAP_SYS_PTRACE), is left out. Fails only when /proc cannot be read.
Result<std::vector<ProcessInfo>> list_processes(const std::string& proc = "/proc");

// Parses the hexadecimal value of the line "KEY:\t..." of a /proc status
// text; false when it has none.
bool status_hex_field(const std::string& status, const std::string& key, std::uint64_t& value);

}  // namespace pkgunify::sys
