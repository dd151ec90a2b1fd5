// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify store unprotect`.
#pragma once

#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <cstdint>

namespace pkgunify {

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

}  // namespace pkgunify
