// SPDX-License-Identifier: GPL-2.0-or-later
// Releasing before a package manager changes files: which packages a dpkg
// command line changes, the files of packages, and paths a guest names
// (`pkgunify dpkg-release`, `pkgunify release --root`, through the agent).
#pragma once

#include "sys/reporter.hpp"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace pkgunify::cli {

// Where the .deb and .rpm files a command line names are: on the host
// (the host's dpkg hook), or inside a guest (the agent: a path is taken
// beneath the root, relative ones from `cwd` inside it, and only a regular
// file is read).
struct PackageFiles
{
  std::string root;  // empty: host paths
  std::string cwd = "/";
  // >= 0: a descriptor of the guest's root as a process inside it sees it
  // (/proc/PID/root, its own mounts: the agent's peer); paths are opened
  // in it (sys::open_regular_in_root), else beneath `root`.
  int view_fd = -1;
};

// The name of the package in the .deb or .rpm `path`. Throws
// PackageDbError / ConfigError naming the file.
std::string package_file_name(const PackageFiles& where, const std::string& path);

// What a dpkg run with argument vector `args` (args[0] is dpkg) is about to
// change: the packages of the .deb files named for install or unpack (also
// below the directories of -R on the host; in a guest -R is reported and
// left out) and the packages it removes or purges.
std::set<std::string> packages_changing(const std::vector<std::string>& args, const PackageFiles& where,
                                        Reporter& reporter);

struct ReleaseCounts
{
  std::uint64_t released = 0;    // made private and writable
  std::uint64_t not_needed = 0;  // not protected, or gone
  std::uint64_t failed = 0;      // reported
};

// Releases the protected unified files (config files apart) of the
// installed packages `names` of `root` (its dpkg or rpm database).
ReleaseCounts release_packages(const std::string& root, const std::set<std::string>& names, Reporter& reporter);

// Releases `paths`, absolute paths inside `root` as its guest sees them
// (its directory symlinks followed inside the root only); a path that leaves
// the root, or names no file, is not released.
ReleaseCounts release_guest_paths(const std::string& root, const std::vector<std::string>& paths, Reporter& reporter);

// Reads NUL-terminated strings from standard input (at most `max` bytes).
std::vector<std::string> read_nul_list(std::size_t max = std::size_t{64} << 20);

}  // namespace pkgunify::cli
