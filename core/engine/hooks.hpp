// SPDX-License-Identifier: GPL-2.0-or-later
// The entry points package-manager hooks use (rpm plugin, dpkg hooks). They
// never throw: every failure is reported and counted, because a hook must
// never make a package manager fail.
#pragma once

#include "engine/scanner.hpp"
#include "engine/session.hpp"
#include "guest/background.hpp"
#include "guest/split.hpp"

#include <string>
#include <unordered_set>
#include <vector>

namespace pkgunify {

struct HookRequest
{
  std::string root;                        // host path of the root ("/" for the host)
  std::string policy_file;                 // empty: /etc/pkgunify/pkgunify.yaml if present, else built in
  std::vector<std::string> files;          // paths inside the root the transaction wrote
  std::unordered_set<std::string> config;  // config files of those packages: never unified
};

struct HookResult
{
  bool ran = false;  // false: configuration error, nothing done (reported)
  ScanStats stats;
};

// Unifies `files` of `root` with the policy's store and link mode.
HookResult unify_files(const HookRequest& request, Reporter& reporter) noexcept;

// The cheap part of what unify_files would stop at: the policy file parses,
// and link mode iunlink has a vserver kernel. Reports the problem and
// returns false. Hooks that unify in the background call it first, so that
// these errors reach the package manager's log; problems with the store or
// its filesystem are reported by the worker.
bool check_hook_config(const HookRequest& request, Reporter& reporter) noexcept;

}  // namespace pkgunify
