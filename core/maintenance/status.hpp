// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify status`.
#pragma once

#include "engine/packages.hpp"
#include "engine/policy.hpp"
#include "guest/protection.hpp"
#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

struct RootStatus
{
  std::string root;
  std::uint64_t files = 0;  // regular files
  std::uint64_t bytes = 0;
  std::uint64_t unified_files = 0;  // links to a store object
  std::uint64_t unified_bytes = 0;
  std::uint64_t saved_bytes = 0;  // this root's fair share of the saving
  std::uint64_t candidates = 0;   // files a scan would take (candidate_verdict)
  std::uint64_t candidate_bytes = 0;
  // Unified files by the mode they are in: "iunlink", "immutable",
  // "hardlink" (a link to an object without protection), "reflink" (every
  // extent shared).
  std::map<std::string, std::uint64_t> modes;
};

// Called for every unified file with its path inside the root and its mode.
using FileModeFn = std::function<void(const std::string& root, const std::string& path, std::string_view mode)>;

// What the package database of each root says, as a scan takes it: one
// filter per root (null for a root without one), or none at all.
using PackageFilters = std::vector<std::shared_ptr<const PackageFilter>>;

// Candidates are what a scan with `policy` and `filters` takes. Throws
// ConfigError when a root is not a directory on the store's filesystem, and
// std::invalid_argument when `filters` is neither empty nor one per root.
std::vector<RootStatus> root_status(const Store& store, const Policy& policy, const std::vector<std::string>& roots,
                                    Reporter& reporter, const FileModeFn& each_file = {},
                                    VserverKernel* vserver = nullptr, const PackageFilters& filters = {});

}  // namespace pkgunify
