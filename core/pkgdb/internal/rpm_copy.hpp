// SPDX-License-Identifier: GPL-2.0-or-later
// A private copy of a guest's rpm database, which librpm reads instead of
// the guest's. librpm (and sqlite below it) open a database by path: they
// would follow any symlink a guest planted there and open, as root, whatever
// file it points to. So librpm never gets a path inside a guest: the regular
// files of the database directory, opened beneath the root (db_files.hpp),
// are copied into a directory of pkgunify's own, and librpm reads that one
// with root "/". Private to core/pkgdb.
#pragma once

#include "sys/fd.hpp"

#include <string>

namespace pkgunify::rpm {

// The files that make a directory an rpm database: sqlite (rpm >= 4.16's
// default), Berkeley DB (older), ndb (SUSE).
inline constexpr const char* k_db_files[] = {"rpmdb.sqlite", "Packages", "Packages.db"};

// The directory the copies are made in: /run/pkgunify (pkgunify's own for
// the boot) when it exists and may be written, else $TMPDIR, else /tmp.
std::string copy_parent_dir();

// Whether the directory `dir_fd` holds one of k_db_files as a regular file
// (not through a symlink). Reads nothing.
bool holds_database(int dir_fd);

class DbCopy
{
public:
  // Copies every regular file of the directory `dir_fd` (a guest's rpm
  // database, opened beneath its root; `display` names it in messages), each
  // within pkgdb_files' limits, into a directory made by mkdtemp (mode 0700)
  // in copy_parent_dir(), named "rpmdb-PID.XXXXXX". sqlite's -shm files are left out: sqlite rebuilds
  // one from the -wal file, and a copy of a live one might not match it.
  // A file that changed while it was copied (rpm was writing) makes it copy
  // everything again, up to 3 times. Throws PackageDbError.
  DbCopy(int dir_fd, const std::string& display);
  // Removes the copy, with whatever librpm added to it.
  ~DbCopy();
  DbCopy(const DbCopy&) = delete;
  DbCopy& operator=(const DbCopy&) = delete;

  // The copy's directory.
  [[nodiscard]] const std::string&
  path() const
  {
    return m_path;
  }

  // Whether the copy holds a database file: librpm would create an empty
  // database where there is none, so it is never asked to open one without.
  [[nodiscard]] bool has_database() const;

private:
  std::string m_path;
  sys::Fd m_fd;
};

}  // namespace pkgunify::rpm
