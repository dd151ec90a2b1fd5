// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify sync: unifies the files of the packages that changed since the
// last sync of a root (after dpkg runs: the host's post-invoke hook, the
// agent for a guest's own runs; periodically).
#pragma once

#include "cli/command.hpp"
#include "engine/scanner.hpp"

#include <string>
#include <vector>

namespace pkgunify::cli {

struct SyncReport final : Report
{
  std::string root;
  std::string package_db;             // kind
  bool unchanged = false;             // nothing changed since the last sync: nothing done
  std::vector<std::string> packages;  // the packages that changed
  bool ran = false;                   // false: the unification could not run (reported)
  ScanStats stats;
  bool hook = false;  // hook mode: no text

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
