// SPDX-License-Identifier: GPL-2.0-or-later
// Opening the package database of a root: rpm through librpm, dpkg through
// libapt-pkg. Only this library links librpm and libapt-pkg.
#pragma once

#include "pkgdb/packagedb.hpp"

#include <memory>
#include <string>

namespace pkgunify {

// Probes ROOT for a dpkg database (var/lib/dpkg/status) and an rpm database
// (var/lib/rpm, usr/lib/sysimage/rpm, root/.rpmdb — the last for guests made
// by Debian's rpm). Never creates anything. Looks beneath the root by the
// rules of guest files: a database behind a symlink or a mount point is
// none, and nothing is read through it. Returns null when the root has
// neither. Throws PackageDbError when a database is present but cannot be
// opened, and when a root has both (pass `prefer` "rpm" or "dpkg" then).
std::unique_ptr<PackageDb> open_package_db(const std::string& root, const std::string& prefer = {});

// The readers, for tests and for callers that know what they want. Throw
// PackageDbError when the database is missing or cannot be read, naming a
// symlink or mount point on the way to it.
std::unique_ptr<PackageDb> open_dpkg_db(const std::string& root);
std::unique_ptr<PackageDb> open_rpm_db(const std::string& root);

}  // namespace pkgunify
