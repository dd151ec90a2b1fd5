// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify store stats`.
#pragma once

#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <cstdint>
#include <string>

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

}  // namespace pkgunify
