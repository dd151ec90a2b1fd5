// SPDX-License-Identifier: GPL-2.0-or-later
// How the readers put a file's stat in a stamp or change marker. Private to
// core/pkgdb.
#pragma once

#include <sys/stat.h>

#include <string>

namespace pkgunify::pkgdb_text {

// "SEC.NSEC" of the modification time.
inline std::string
mtime_stamp(const struct stat& st)
{
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

// "INODE:SIZE:SEC.NSEC": changes when the file is replaced or rewritten.
inline std::string
file_stamp(const struct stat& st)
{
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" + mtime_stamp(st);
}

}  // namespace pkgunify::pkgdb_text
