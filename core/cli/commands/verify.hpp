// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify verify: compares the unified files of roots with their package
// database's digests.
#pragma once

#include "cli/command.hpp"
#include "maintenance/verify.hpp"

#include <string>
#include <vector>

namespace pkgunify::cli {

struct VerifiedRoot
{
  std::string root;
  std::string package_db;  // kind
  VerifyResult result;
};

// The roots verified; one that cannot be verified fails the rest (fail()).
struct VerifyReport final : Report
{
  std::string store;
  std::vector<VerifiedRoot> roots;

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
