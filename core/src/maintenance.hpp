// `pkgunify store stats|fsck|gc` and `pkgunify status`.
#pragma once

#include "scanner.hpp"
#include "store.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pkgunify {

struct StoreStats
{
  std::uint64_t objects = 0;       // including successors
  std::uint64_t successors = 0;
  std::uint64_t links = 0;         // guest links (names beyond the store's own)
  std::uint64_t bytes_stored = 0;  // sum of object sizes
  std::uint64_t bytes_saved = 0;   // size x (guest links - 1)
  std::uint64_t unreferenced = 0;  // objects no guest links to (gc removes them)
  std::uint64_t unreferenced_bytes = 0;
  std::uint64_t stray = 0;         // entries that are not objects
};

StoreStats store_stats(const Store& store, Reporter& reporter);

struct FsckResult
{
  std::uint64_t checked = 0;
  std::uint64_t corrupt = 0;      // content or metadata no longer match the name
  std::uint64_t quarantined = 0;  // moved to STORE/quarantine (--repair)
  std::uint64_t stray = 0;        // entries that are not objects
  std::uint64_t bytes_read = 0;
  std::uint64_t errors = 0;
};

FsckResult store_fsck(const Store& store, bool repair, unsigned jobs, Reporter& reporter);

struct GcResult
{
  std::uint64_t removed = 0;
  std::uint64_t bytes_freed = 0;
  std::uint64_t kept = 0;
  std::uint64_t errors = 0;
};

GcResult store_gc(const Store& store, bool dry_run, Reporter& reporter);

struct RootStatus
{
  std::string root;
  std::uint64_t files = 0;           // regular files
  std::uint64_t bytes = 0;
  std::uint64_t unified_files = 0;   // links to a store object
  std::uint64_t unified_bytes = 0;
  std::uint64_t saved_bytes = 0;     // this root's fair share of the saving
  std::uint64_t candidates = 0;      // files the policy admits
  std::uint64_t candidate_bytes = 0;
};

// Throws ConfigError when a root is not a directory on the store's filesystem.
std::vector<RootStatus> root_status(const Store& store,
                                    const Policy& policy,
                                    const std::vector<std::string>& roots,
                                    Reporter& reporter);

} // namespace pkgunify
