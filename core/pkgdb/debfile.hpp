// Reading a .deb without installing it: its name, version, architecture and
// the paths of its data archive, with the conffiles marked. libarchive reads
// the ar container and the (compressed) tarballs inside it.
#pragma once

#include "packagedb.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pkgunify {

struct ArchiveEntry
{
  std::string path;       // absolute, "/usr/bin/x"; directories without a trailing '/'
  bool regular = false;   // a regular file (hard links to one included)
  std::uint64_t size = 0; // bytes, for regular files
  std::uint32_t mode = 0; // type and permission bits, as in st_mode
  bool config = false;    // listed in the control archive's conffiles
};

struct ArchiveInfo
{
  std::string name;
  std::string version;
  std::string arch;
  std::vector<ArchiveEntry> entries;  // in archive order
};

// Reads the .deb at `path`: debian-binary, control.tar[.gz|.xz|.zst] for
// control and conffiles, data.tar[.gz|.xz|.zst|.bz2|.lzma] for the entries.
// Throws PackageDbError naming the file on anything unreadable or malformed.
ArchiveInfo read_deb(const std::string& path);

} // namespace pkgunify
