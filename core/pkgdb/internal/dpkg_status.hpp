// SPDX-License-Identifier: GPL-2.0-or-later
// dpkg's status file, and the journal files of ADMINDIR/updates/ (which have
// its format), parsed with libapt-pkg's deb822 reader. Private to
// core/pkgdb; no libapt-pkg type shows here.
#pragma once

#include "pkgdb/packagedb.hpp"
#include "sys/fd.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace pkgunify::dpkg {

// One line of a package's "Conffiles:" field.
struct Conffile
{
  std::string path;
  std::string md5;  // lowercase; empty for "newconffile" and friends
};

// One stanza of the status file.
struct StatusEntry
{
  std::string package;
  std::string version;
  std::string arch;
  bool multiarch_same = false;
  std::vector<Conffile> conffiles;
  bool on_disk = false;  // the package's files are installed

  // As dpkg-query names it: "pkg", or "pkg:arch" for Multi-Arch: same.
  [[nodiscard]] std::string
  display_name() const
  {
    return multiarch_same && !arch.empty() ? package + ":" + arch : package;
  }
};

// Parses the status (or journal) file open as `fd`, which it takes over;
// `display` names the file in messages ("DISPLAY:LINE: what" for a corrupt
// one). Returns every package of the file, on disk or not, in file order.
// Throws PackageDbError.
std::vector<StatusEntry> parse_status(sys::Fd fd, const std::string& display);

// "DISPLAY: cannot read dpkg status: REASON".
PackageDbError status_error(const std::string& display, std::string_view reason);

}  // namespace pkgunify::dpkg
