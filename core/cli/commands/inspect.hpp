// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify inspect: which files of .rpm or .deb package files would be
// unified.
#pragma once

#include "cli/command.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pkgunify::cli {

struct InspectEntry
{
  std::string path;
  std::uint64_t size = 0;
  bool config = false;
  bool unified = false;  // would be unified
  std::string reason;    // "would be unified", or why not
};

struct InspectedPackage
{
  std::string file;
  std::string format;  // "rpm", "deb"
  std::string name;
  std::string version;
  std::string arch;
  std::uint64_t unified_files = 0;
  std::uint64_t unified_bytes = 0;
  std::vector<InspectEntry> entries;  // directories left out
};

// The packages inspected; one that cannot be read fails the rest (fail()).
struct InspectReport final : Report
{
  std::vector<InspectedPackage> packages;

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
