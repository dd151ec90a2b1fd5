// SPDX-License-Identifier: GPL-2.0-or-later
// What `scan --all` and `status --all` share: the options, the registry's
// guests in groups (engine/guests.hpp: group_guests), and the report with
// one part per group.
#pragma once

#include "cli/command.hpp"
#include "engine/guests.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace pkgunify::cli {

struct AllGuestsOptions
{
  bool all = false;
  std::string guests_dir;  // empty: guests_dir()
};

// --all (excluding `roots` and --store) and --guests-dir.
void add_all_guests_options(CLI::App& cmd, AllGuestsOptions& o, CLI::Option* roots);

// Fails (ConfigError) unless the command line names roots or --all.
void require_roots_or_all(const AllGuestsOptions& o, const std::vector<std::string>& roots);

// The report of a command run on every group of guests.
struct GroupsReport final : Report
{
  struct Part
  {
    GuestGroup group;
    std::unique_ptr<Report> report;  // null when the group failed
    std::string error;
    int error_status = k_exit_ok;
  };

  std::string command;  // "scan", "status"
  std::string guests_dir;
  std::vector<Part> parts;
  std::vector<std::string> errors;  // broken registry files, guests left out

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

// What the command does for one group; throws for a group that fails.
using GroupFn = std::function<std::unique_ptr<Report>(const GuestGroup& group)>;

// Runs `fn` on every group of the registry's guests (`policy_file`: the
// run's --policy, for guests without their own). Broken registry files, the
// guests group_guests leaves out and the groups that fail are printed to
// standard error as they happen and counted; the others go on.
std::unique_ptr<GroupsReport> run_groups(const std::string& command, const AllGuestsOptions& o,
                                         const std::string& policy_file, const GroupFn& fn);

}  // namespace pkgunify::cli
