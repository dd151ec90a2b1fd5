// The entry points package-manager hooks use (rpm plugin, dpkg hooks). They
// never throw: every failure is reported and counted, because a hook must
// never make a package manager fail.
#pragma once

#include "scanner.hpp"

#include <string>
#include <unordered_set>
#include <vector>

namespace pkgunify {

struct HookRequest
{
  std::string root;         // host path of the root ("/" for the host)
  std::string policy_file;  // empty: /etc/pkgunify/pkgunify.yaml if present, else built in
  std::vector<std::string> files;           // paths inside the root the transaction wrote
  std::unordered_set<std::string> config;   // config files of those packages: never unified
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

// The policy a hook uses: `file`, else /etc/pkgunify/pkgunify.yaml when it
// exists, else the built-in default. Throws ConfigError.
Policy load_hook_policy(const std::string& file);

// The lock a background worker holds while it unifies a root:
// /run/pkgunify/hook-<32 hex of SHA-256(real path of root)>.lock
std::string hook_lock_path(const std::string& root);

// Runs unify_files(request) in a detached background process that holds the
// root's hook lock, and returns as soon as it has started (a package
// manager's transaction then costs a fork, not the unification). Messages
// go to `log`. False when no worker could be started (the caller then
// unifies synchronously).
bool unify_files_in_background(const HookRequest& request, const std::string& log) noexcept;

// Blocks until no background worker unifies `root` (the next transaction on
// that root, and `pkgunify wait`, call it).
void wait_for_background(const std::string& root) noexcept;

enum class ReleaseResult { not_needed, released, failed };

// Before a package manager replaces or removes `path`: when it is a unified
// file whose protection would make that fail (immutable), turns it into a
// private, writable file. `in_chroot`: the caller is chrooted into the root,
// so directory symlinks are followed (they cannot leave it).
ReleaseResult release_if_protected(const std::string& path, bool in_chroot, Reporter& reporter) noexcept;

} // namespace pkgunify
