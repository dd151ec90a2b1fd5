// SPDX-License-Identifier: GPL-2.0-or-later
// Extent sharing on btrfs and XFS: FICLONE, FIDEDUPERANGE, FIEMAP.
#pragma once

#include "sys/error.hpp"

#include <cstdint>
#include <string_view>

namespace pkgunify::sys {

// Makes `dst` share all of `src`'s extents (FICLONE).
Result<void> clone_file(int src, int dst, std::string_view display);

enum class DedupeResult { shared, differs };

// Shares the first `size` bytes of `dst` with `src` through FIDEDUPERANGE; the
// kernel compares the bytes and shares nothing that differs. Loops over the
// per-call limit and checks every call's status.
Result<DedupeResult> dedupe_file(int src, int dst, std::uint64_t size, std::string_view display);

struct ExtentSharing
{
  std::uint64_t extents = 0;
  std::uint64_t shared = 0;  // extents flagged FIEMAP_EXTENT_SHARED
  std::uint64_t inline_or_unknown = 0;
};

// Maps the file's extents (FIEMAP with FIEMAP_FLAG_SYNC).
Result<ExtentSharing> extent_sharing(int fd, std::string_view display);

}  // namespace pkgunify::sys
