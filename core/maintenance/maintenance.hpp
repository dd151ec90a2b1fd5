// `pkgunify store stats|fsck|gc` and `pkgunify status`.
#pragma once

#include "engine/scanner.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pkgunify {

struct StoreStats
{
  std::uint64_t objects = 0;  // including successors
  std::uint64_t successors = 0;
  std::uint64_t links = 0;         // guest links (names beyond the store's own)
  std::uint64_t bytes_stored = 0;  // sum of object sizes
  std::uint64_t bytes_saved = 0;   // size x (guest links - 1)
  std::uint64_t unreferenced = 0;  // objects no guest links to (gc removes them)
  std::uint64_t unreferenced_bytes = 0;
  std::uint64_t stray = 0;  // entries that are not objects
};

// With `memory`, also estimates the page cache the shared objects save right
// now: each object's resident pages (cachestat, or mincore) times its guest
// links beyond the first.
struct MemoryStats
{
  std::uint64_t resident_bytes = 0;  // page cache held by objects
  std::uint64_t saved_bytes = 0;     // estimate: resident x (guest links - 1)
  std::string method;                // "cachestat" or "mincore"
};

StoreStats store_stats(const Store& store, Reporter& reporter, MemoryStats* memory = nullptr);

struct FsckResult
{
  std::uint64_t checked = 0;
  std::uint64_t corrupt = 0;      // content or metadata no longer match the name
  std::uint64_t quarantined = 0;  // moved to STORE/quarantine (--repair)
  std::uint64_t stray = 0;        // entries that are not objects
  std::uint64_t bytes_read = 0;
  std::uint64_t errors = 0;
};

// Objects carrying protection (immutable, iunlink) are lifted to be moved
// and protected again in quarantine; `vserver` may be null (real kernel).
FsckResult store_fsck(const Store& store, bool repair, unsigned jobs, Reporter& reporter,
                      VserverKernel* vserver = nullptr);

struct GcResult
{
  std::uint64_t removed = 0;
  std::uint64_t bytes_freed = 0;
  std::uint64_t kept = 0;
  std::uint64_t errors = 0;
};

// Removes objects that no guest uses: link count 1 and (reflink mode) no
// extent shared with any other file. Lifts protection before removing.
GcResult store_gc(const Store& store, bool dry_run, Reporter& reporter, VserverKernel* vserver = nullptr);

struct UnprotectResult
{
  std::uint64_t lifted = 0;     // objects whose immutable flag was cleared
  std::uint64_t unchanged = 0;  // objects without it (hardlink, reflink; iunlink, which
                                // package managers can unlink without a hook)
  std::uint64_t errors = 0;
};

// Clears the immutable flag of every object, under each object's lock (as
// release does): the files stay shared, as in link mode hardlink, and
// package managers without the pkgunify hooks can replace them again. What
// removing the hook packages runs; a later scan in link mode immutable
// protects them again.
UnprotectResult store_unprotect(const Store& store, bool dry_run, Reporter& reporter);

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
