// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify store fsck`.
#pragma once

#include "guest/protection.hpp"
#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <cstdint>

namespace pkgunify {

struct FsckResult
{
  std::uint64_t checked = 0;
  std::uint64_t corrupt = 0;      // content or metadata no longer match the name
  std::uint64_t quarantined = 0;  // moved to STORE/quarantine (--repair)
  std::uint64_t stray = 0;        // entries that are not objects
  std::uint64_t bytes_read = 0;
  std::uint64_t errors = 0;
};

// Reads and hashes every object on `jobs` threads (0: default_scan_jobs(),
// as a scan: a cold disk serves a few reads in flight faster than one).
// Objects carrying protection (immutable, iunlink) are lifted to be moved
// and protected again in quarantine; `vserver` may be null (real kernel).
FsckResult store_fsck(const Store& store, bool repair, unsigned jobs, Reporter& reporter,
                      VserverKernel* vserver = nullptr);

}  // namespace pkgunify
