// SPDX-License-Identifier: GPL-2.0-or-later
// The dpkg run a pre-invoke hook runs for: dpkg runs its hook lines through
// `sh -c`, so the hook's process is dpkg -> sh -> hook. Both the host's
// `pkgunify dpkg-release` and the guest's `pkgunify-guest dpkg-pre` read what
// that run is about to change from its command line. Only /proc and libc.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace pkgunify {

struct DpkgCaller
{
  pid_t pid = 0;
  std::vector<std::string> argv;  // /proc/PID/cmdline, split at the NULs
  std::string cwd;                // readlink /proc/PID/cwd; empty when unreadable
};

// The nearest process called "dpkg" (/proc/PID/comm) among the parent, its
// parent and so on, at most `depth` levels up, not past init; nullopt when
// there is none (also when /proc is not mounted).
std::optional<DpkgCaller> find_dpkg_caller(int depth = 6);

}  // namespace pkgunify
