// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify store gc`.
#pragma once

#include "guest/protection.hpp"
#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <cstdint>

namespace pkgunify {

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

}  // namespace pkgunify
