// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify status: how much of each root is unified, and in which link mode.
#pragma once

#include "cli/command.hpp"
#include "maintenance/maintenance.hpp"

#include <optional>
#include <string>
#include <vector>

namespace pkgunify::cli {

struct UnifiedFile
{
  std::string root;
  std::string path;  // inside the root
  std::string mode;
};

// The roots' status; a root that cannot be read fails the rest (fail()).
struct StatusReport final : Report
{
  std::string store;
  std::vector<RootStatus> roots;
  std::optional<std::vector<UnifiedFile>> files;  // --files: every unified file

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
