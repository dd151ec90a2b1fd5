// `pkgunify status`.
#pragma once

#include "engine/policy.hpp"
#include "guest/protection.hpp"
#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <cstdint>
#include <functional>
#include <map>
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
  std::uint64_t candidates = 0;   // files the policy admits
  std::uint64_t candidate_bytes = 0;
  // Unified files by the mode they are in: "iunlink", "immutable",
  // "hardlink" (a link to an object without protection), "reflink" (every
  // extent shared).
  std::map<std::string, std::uint64_t> modes;
};

// Called for every unified file with its path inside the root and its mode.
using FileModeFn = std::function<void(const std::string& root, const std::string& path, std::string_view mode)>;

// Throws ConfigError when a root is not a directory on the store's filesystem.
std::vector<RootStatus> root_status(const Store& store, const Policy& policy, const std::vector<std::string>& roots,
                                    Reporter& reporter, const FileModeFn& each_file = {},
                                    VserverKernel* vserver = nullptr);

}  // namespace pkgunify
