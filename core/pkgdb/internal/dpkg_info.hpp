// SPDX-License-Identifier: GPL-2.0-or-later
// The info directory of dpkg's database (ADMINDIR/info), which holds about
// 100k paths per root: a package's file list (<pkg>.list, "/." first), its
// digests (<pkg>.md5sums, "<md5>  relative/path") and the conffiles of its
// control archive (<pkg>.conffiles). Multi-Arch: same packages name their
// info files "<pkg>:<arch>.*". Private to core/pkgdb.
#pragma once

#include "pkgdb/internal/dpkg_status.hpp"
#include "pkgdb/packagedb.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

#include <string>

namespace pkgunify::dpkg {

class InfoDir
{
public:
  // Opens ADMINDIR/info beneath `admin_fd`, the open ADMINDIR (no symlink
  // followed, no mount crossed), whose host path `admindir` names the files
  // in messages. An info directory that cannot be opened is no error yet:
  // reading a package from it is.
  InfoDir(int admin_fd, const std::string& admindir);

  // The installed package `entry` with its files, their digests, and its
  // conffiles marked. Throws PackageDbError when its file list cannot be read
  // or a file is corrupt.
  [[nodiscard]] PackageInfo read_package(const StatusEntry& entry) const;

  // The installed package `entry` with its conffiles only: the status's
  // field and info/<pkg>.conffiles under both names it may have (never
  // fewer than read_package marks). No file list is read.
  [[nodiscard]] PackageInfo read_conffiles_of(const StatusEntry& entry) const;

  // " INODE:SIZE:MTIME" of the package's file list, which dpkg rewrites
  // whenever it unpacks the package; "" when there is none.
  [[nodiscard]] std::string list_stamp(const StatusEntry& entry) const;

private:
  struct ListFile;
  class FileIndex;

  [[nodiscard]] std::string display(const std::string& file) const;
  [[nodiscard]] PackageDbError error(const std::string& file, const std::string& what) const;
  [[nodiscard]] sys::Result<std::string> read(const std::string& file) const;
  [[nodiscard]] ListFile read_list(const StatusEntry& entry, const std::string& name) const;
  [[nodiscard]] FileIndex index_list(const ListFile& list, PackageInfo& pkg) const;
  void read_md5sums(const std::string& file, const FileIndex& index, PackageInfo& pkg) const;
  void read_conffiles(const std::string& file, std::vector<Conffile>& conffiles) const;

  std::string m_admindir;
  sys::Fd m_fd;
  int m_error = 0;             // errno of opening ADMINDIR/info, 0 when open
  std::string m_error_reason;  // and why, for messages
};

}  // namespace pkgunify::dpkg
