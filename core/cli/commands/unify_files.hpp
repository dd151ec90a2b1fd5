// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify unify-files: unifies the files a transaction installed, listed
// on standard input as hook records (guest/hook_records.hpp). What the rpm
// plugin's worker runs. With --check: only checks the policy and link mode,
// and remembers a success (see guest/background.hpp).
#pragma once

#include "cli/command.hpp"
#include "engine/scanner.hpp"

#include <string>

namespace pkgunify::cli {

struct UnifyFilesReport final : Report
{
  std::string root;
  bool ran = false;  // false: configuration error, nothing done (reported)
  ScanStats stats;

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;  // prints nothing
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
