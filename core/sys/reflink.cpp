// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/reflink.hpp"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <vector>

namespace pkgunify::sys {

Result<void>
clone_file(int src, int dst, std::string_view display)
{
  if (::ioctl(dst, FICLONE, src) != 0) {
    return fail_sys("clone extents to", display);
  }
  return {};
}

Result<DedupeResult>
dedupe_file(int src, int dst, std::uint64_t size, std::string_view display)
{
  constexpr std::uint64_t k_max_call = 1ULL << 30;
  std::vector<char> buf(sizeof(file_dedupe_range) + sizeof(file_dedupe_range_info));
  auto* range = reinterpret_cast<file_dedupe_range*>(buf.data());
  std::uint64_t offset = 0;
  while (offset < size) {
    std::fill(buf.begin(), buf.end(), 0);
    range->src_offset = offset;
    range->src_length = std::min(k_max_call, size - offset);
    range->dest_count = 1;
    range->info[0].dest_fd = dst;
    range->info[0].dest_offset = offset;
    if (::ioctl(src, FIDEDUPERANGE, range) != 0) {
      return fail_sys("deduplicate", display);
    }
    const auto& info = range->info[0];
    if (info.status == FILE_DEDUPE_RANGE_DIFFERS) {
      return DedupeResult::differs;
    }
    if (info.status < 0) {
      return fail_sys("deduplicate", display, -info.status);
    }
    if (info.bytes_deduped == 0) {
      return fail("deduplicate " + std::string(display) + ": the kernel shared no bytes", EIO);
    }
    offset += info.bytes_deduped;
  }
  return DedupeResult::shared;
}

Result<ExtentSharing>
extent_sharing(int fd, std::string_view display)
{
  constexpr unsigned k_batch = 64;
  std::vector<char> buf(sizeof(fiemap) + k_batch * sizeof(fiemap_extent));
  ExtentSharing out;
  std::uint64_t start = 0;
  for (;;) {
    std::fill(buf.begin(), buf.end(), 0);
    auto* fm = reinterpret_cast<fiemap*>(buf.data());
    fm->fm_start = start;
    fm->fm_length = FIEMAP_MAX_OFFSET - start;
    fm->fm_flags = FIEMAP_FLAG_SYNC;
    fm->fm_extent_count = k_batch;
    if (::ioctl(fd, FS_IOC_FIEMAP, fm) != 0) {
      return fail_sys("map extents of", display);
    }
    if (fm->fm_mapped_extents == 0) {
      return out;
    }
    bool last = false;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
      const fiemap_extent& e = fm->fm_extents[i];
      ++out.extents;
      if (e.fe_flags & FIEMAP_EXTENT_SHARED) {
        ++out.shared;
      }
      if (e.fe_flags & (FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DATA_INLINE | FIEMAP_EXTENT_DELALLOC)) {
        ++out.inline_or_unknown;
      }
      if (e.fe_flags & FIEMAP_EXTENT_LAST) {
        last = true;
      }
      start = e.fe_logical + e.fe_length;
    }
    if (last) {
      return out;
    }
  }
}

}  // namespace pkgunify::sys
