// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify store stats, fsck, gc, unprotect: inspect and maintain the hash
// store.
#pragma once

#include "cli/command.hpp"
#include "maintenance/maintenance.hpp"

#include <optional>
#include <string>

namespace pkgunify::cli {

struct StoreStatsReport final : Report
{
  std::string store;
  StoreStats stats;
  std::optional<MemoryStats> memory;  // --memory

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

struct StoreFsckReport final : Report
{
  std::string store;
  FsckResult result;
  bool repair = false;  // --repair: corrupt objects were quarantined

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

struct StoreGcReport final : Report
{
  std::string store;
  GcResult result;
  bool dry_run = false;

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

struct StoreUnprotectReport final : Report
{
  std::string store;
  UnprotectResult result;
  bool dry_run = false;

  [[nodiscard]] json to_json() const override;
  void print_text(std::ostream& out) const override;
  [[nodiscard]] int exit_status() const override;
};

}  // namespace pkgunify::cli
