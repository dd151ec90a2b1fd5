// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify list: each file of a root's packages, config or not, candidate
// or not, and why.
#pragma once

#include "cli/command.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pkgunify::cli {

struct ListEntry
{
  std::string package;
  std::string path;                     // as the package database names it
  std::optional<std::string> resolved;  // the path it resolves to, when another
  bool config = false;
  bool candidate = false;
  std::string reason;  // "candidate", "missing", or why not
};

struct ListReport final : Report
{
  std::string root;
  std::string package_db;  // kind
  std::string database;    // location
  std::size_t packages = 0;
  std::vector<std::string> missing;  // named packages not installed (a failure)
  std::uint64_t candidates = 0;
  std::uint64_t config_files = 0;
  std::vector<ListEntry> files;

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
