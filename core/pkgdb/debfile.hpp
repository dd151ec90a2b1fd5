// SPDX-License-Identifier: GPL-2.0-or-later
// Reading a .deb without installing it: its name, version, architecture and
// the paths of its data archive, with the conffiles marked. libarchive reads
// the ar container and the (compressed) tarballs inside it.
#pragma once

#include "pkgdb/packagedb.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pkgunify {

// Reads the .deb at `path`: debian-binary, control.tar[.gz|.xz|.zst] for
// control and conffiles, data.tar[.gz|.xz|.zst|.bz2|.lzma] for the entries.
// Throws PackageDbError naming the file on anything unreadable or malformed.
ArchiveInfo read_deb(const std::string& path);

}  // namespace pkgunify
