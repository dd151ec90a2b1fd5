// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify dpkg-release: before a dpkg run, releases the protected unified
// files of the packages it will change.
#pragma once

#include "cli/command.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pkgunify::cli {

struct DpkgReleaseReport final : Report
{
  std::string root;
  std::vector<std::string> packages;  // what the dpkg run changes
  std::uint64_t released = 0;         // files released
  std::uint64_t errors = 0;           // failures (each reported)

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;  // prints nothing
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
