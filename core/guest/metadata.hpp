// SPDX-License-Identifier: GPL-2.0-or-later
// The metadata hard links share, which a file keeps when pkgunify moves it
// between inodes (split, release, new objects): owner, mode, size, mtime and
// extended attributes.
#pragma once

#include "sys/error.hpp"
#include "sys/xattr.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <string_view>

namespace pkgunify {

struct FileMeta
{
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (07777)
  std::uint64_t size = 0;
  std::int64_t mtime_sec = 0;
  std::uint32_t mtime_nsec = 0;
  sys::Xattrs xattrs;  // sorted by name

  static FileMeta
  from_stat(const struct stat& st, sys::Xattrs xattrs)
  {
    FileMeta m;
    m.uid = st.st_uid;
    m.gid = st.st_gid;
    m.mode = st.st_mode & 07777;
    m.size = static_cast<std::uint64_t>(st.st_size);
    m.mtime_sec = st.st_mtim.tv_sec;
    m.mtime_nsec = static_cast<std::uint32_t>(st.st_mtim.tv_nsec);
    m.xattrs = std::move(xattrs);
    return m;
  }
  bool operator==(const FileMeta&) const = default;
};

// Reads the metadata of the open file `fd`.
sys::Result<FileMeta> read_metadata(int fd, std::string_view display);

// Gives `fd` the metadata `meta` (owner, xattrs, mode, mtime) and reads it
// back to check that the filesystem kept all of it.
sys::Result<void> apply_metadata(int fd, const FileMeta& meta, std::string_view display);

}  // namespace pkgunify
