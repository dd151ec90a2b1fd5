// SPDX-License-Identifier: GPL-2.0-or-later
// Setting up a run: the policy a command or hook uses, the store it works
// on, and, for a scan, the policy's overrides and the resolved link mode.
// The CLI (scan, pkg, and the commands that only read the store) and the
// package-manager hooks (unify_files) all start here.
#pragma once

#include "engine/policy.hpp"
#include "engine/scanner.hpp"
#include "store/store.hpp"

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pkgunify {

// The policy of a run: `file` when one is named, else the system policy
// (k_system_policy_path) when it exists, else the built-in default. Throws
// ConfigError naming the file.
Policy load_run_policy(const std::string& file);

// The store of a run: `given` (--store), else the policy's `store:`, else
// the default next to the first root. ConfigError without any of them.
std::string run_store_path(const std::string& given, const Policy& policy, const std::vector<std::string>& roots);

// The store of the roots on filesystem `dev` (`root` one of them), as
// `scan --all` gives each filesystem its own: the policy's store when it is
// on that filesystem (or will be, made where it is missing), else the
// default at the top of it (Store::default_location).
std::string filesystem_store_path(const Policy& policy, dev_t dev, const std::string& root);

// Who runs the scan: a package-manager hook creates objects as the policy's
// hook_create says (files it just wrote), a command as its create says.
enum class ScanCaller { command, hook };

// What a command line changes of the policy for one scan.
struct PolicyOverrides
{
  std::optional<LinkMode> link;
  std::optional<CreateMode> create;
  std::optional<std::uint64_t> min_size;
  bool ignore_mtime = false;   // true: share files that differ only in mtime
  bool trusted_roots = false;  // true: as the policy key trusted_roots
};

struct ScanRequest
{
  std::string policy_file;         // empty: as load_run_policy says
  std::string store;               // empty: as run_store_path says
  std::vector<std::string> roots;  // the first names the default store
  ScanCaller caller = ScanCaller::command;
  PolicyOverrides overrides;
  bool dry_run = false;  // change nothing (and create no store)
  unsigned jobs = 0;     // 0: default_scan_jobs()
};

struct ScanSetup
{
  ScanOptions opt;  // the policy with its overrides, the resolved link mode
  Store store;      // absent() for a dry run before the first scan
};

// The policy of the scan `request` asks for, its overrides applied. Throws
// ConfigError.
Policy scan_policy(const ScanRequest& request);

// The rest of the scan's setup with `policy` (from scan_policy): opens the
// store, creating it unless this is a dry run (a dry run before the first
// scan gets an absent store and creates nothing), and resolves the link
// mode on it. Throws ConfigError.
ScanSetup setup_scan(const ScanRequest& request, Policy policy);

// Both steps in one.
ScanSetup setup_scan(const ScanRequest& request);

}  // namespace pkgunify
