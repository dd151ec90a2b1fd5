// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify split and pkgunify release: give unified guest paths their
// private copy again (release: before a package manager replaces them).
#pragma once

#include "cli/command.hpp"

#include <cstdint>

namespace pkgunify::cli {

enum class SplitVerb { split, release };

struct SplitReport final : Report
{
  SplitVerb verb = SplitVerb::split;
  bool dry_run = false;
  std::uint64_t split = 0;  // split (released)
  std::uint64_t not_shared = 0;
  std::uint64_t failed = 0;

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
