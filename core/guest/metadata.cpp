// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/metadata.hpp"

#include "sys/fs.hpp"
#include "sys/xattr.hpp"

#include <sys/stat.h>
#include <unistd.h>

namespace pkgunify {

sys::Result<FileMeta>
read_metadata(int fd, std::string_view display)
{
  auto st = sys::fstat_fd(fd, display);
  if (!st) {
    return std::unexpected(st.error());
  }
  auto xattrs = sys::read_xattrs(fd, display);
  if (!xattrs) {
    return std::unexpected(xattrs.error());
  }
  return FileMeta::from_stat(*st, std::move(*xattrs));
}

sys::Result<void>
apply_metadata(int fd, const FileMeta& meta, std::string_view display)
{
  if (::fchown(fd, meta.uid, meta.gid) != 0) {
    return sys::fail_sys("chown", display);
  }
  if (auto r = sys::write_xattrs(fd, meta.xattrs, display); !r) {
    return r;
  }
  if (::fchmod(fd, meta.mode) != 0) {
    return sys::fail_sys("chmod", display);
  }
  const struct timespec times[2] = {{0, UTIME_OMIT},
                                    {static_cast<time_t>(meta.mtime_sec), static_cast<long>(meta.mtime_nsec)}};
  if (::futimens(fd, times) != 0) {
    return sys::fail_sys("set mtime of", display);
  }
  auto kept = read_metadata(fd, display);
  if (!kept) {
    return std::unexpected(kept.error());
  }
  if (!(*kept == meta)) {
    return sys::fail(std::string(display)
                     + ": the filesystem did not keep the file's metadata (owner, mode, "
                       "mtime or extended attributes)");
  }
  return {};
}

}  // namespace pkgunify
