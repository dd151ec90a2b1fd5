// SPDX-License-Identifier: GPL-2.0-or-later
// What the commands that unify (scan, pkg) share: their options, the scan
// set-up they ask for, running the unifier with a progress line, and their
// report.
#pragma once

#include "cli/command.hpp"
#include "engine/session.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pkgunify::cli {

// Options of the commands that unify beyond CommonOptions.
struct ScanFlags
{
  bool dry_run = false;
  std::optional<std::string> create;
  std::optional<std::string> link;
  std::optional<std::uint64_t> min_size;
  bool ignore_mtime = false;
  bool trusted_roots = false;
};

// --store, --policy, --json, --db, --dry-run, --jobs, --create, --min-size,
// --ignore-mtime, --link.
void add_scan_options(CLI::App& cmd, CommonOptions& o, ScanFlags& flags);

// The scan set-up these options ask for; `roots` name the default store.
ScanRequest scan_request(const CommonOptions& o, const ScanFlags& flags, std::vector<std::string> roots);

// Runs a unifier on `setup` with a progress line on `reporter`; `queue`
// adds its roots and files.
ScanStats run_unifier(ScanSetup& setup, CliReporter& reporter, const std::function<void(Unifier&)>& queue);

// The summary of scan and pkg.
struct ScanReport final : Report
{
  std::string command;  // "scan", "pkg"
  std::string store;
  json extra;  // the command's own JSON fields, after "store"
  bool dry_run = false;
  CreateMode create = CreateMode::copy;
  LinkMode link = LinkMode::hardlink;
  ScanStats stats;
  std::size_t missing_packages = 0;  // pkg: named packages not installed (a failure)

  ScanReport(std::string command, const ScanSetup& setup, const ScanStats& stats, json extra);
  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
