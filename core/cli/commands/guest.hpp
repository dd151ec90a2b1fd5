// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify guest add|remove|list: the registry of the host's guests
// (engine/guests.hpp).
#pragma once

#include "cli/command.hpp"
#include "engine/guests.hpp"
#include "maintenance/guest_list.hpp"

#include <string>
#include <vector>

namespace pkgunify::cli {

// guest add and guest remove.
struct GuestChangeReport final : Report
{
  std::string action;  // "add", "remove"
  GuestEntry guest;    // remove: name and file only

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

// guest list. Warnings are listed, not failures: exit status 0 unless a
// registry file is broken (1).
struct GuestListReport final : Report
{
  std::string guests_dir;
  std::vector<GuestInfo> guests;
  std::vector<std::string> errors;  // broken registry files

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
