// SPDX-License-Identifier: GPL-2.0-or-later
// rpm's database of a root, and .rpm package headers, read with librpm.
#pragma once

#include "pkgdb/packagedb.hpp"

#include <memory>
#include <optional>
#include <string>

namespace pkgunify {

// The rpm database directories a root may have, relative to it, in the order
// they are probed.
inline constexpr const char* k_rpm_db_dirs[] = {"var/lib/rpm", "usr/lib/sysimage/rpm", "root/.rpmdb"};

// The directory (relative to root, e.g. "var/lib/rpm") that holds an rpm
// database, or nullopt. Only looks, beneath the root: a directory with a
// symlink or mount point on the way is skipped (Fedora's var/lib/rpm is a
// symlink to ../../usr/lib/sysimage/rpm, found next). Never creates.
std::optional<std::string> find_rpm_db(const std::string& root);

// Opens the root's rpm database read-only. Each read copies its regular
// files into a private directory that librpm reads (librpm never opens a
// path inside the root) and removes it afterwards; change_marker() only
// stats them. Throws PackageDbError when there is none (librpm would create
// an empty one: it is never asked to) or it cannot be read.
std::unique_ptr<PackageDb> make_rpm_db(const std::string& root);

// A package file's header: its files with %config flags, sizes and modes.
// Throws PackageDbError naming the file when it is no readable rpm package.
ArchiveInfo read_rpm_file(const std::string& path);

}  // namespace pkgunify
