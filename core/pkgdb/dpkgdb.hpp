// SPDX-License-Identifier: GPL-2.0-or-later
// dpkg's database (ROOT/var/lib/dpkg) read with libapt-pkg.
#pragma once

#include "pkgdb/packagedb.hpp"

#include <memory>
#include <string>

namespace pkgunify {

// `admindir` is the host path of a dpkg admin directory, as an admin names
// it (symlinks on the way followed). Throws PackageDbError
// ("ADMINDIR/status:LINE: message" for a corrupt status file) when it is
// missing or cannot be read.
std::unique_ptr<PackageDb> make_dpkg_db(const std::string& admindir);

// The database of the root `root` (a host path an admin names): its
// ROOT/var/lib/dpkg opened beneath the root by the rules of guest files (no
// symlink on the way followed, no mount crossed: an error naming it).
// Throws PackageDbError as make_dpkg_db does.
std::unique_ptr<PackageDb> make_root_dpkg_db(const std::string& root);

// Whether `root` has var/lib/dpkg/status, looked up by the same rules: one
// behind a symlink or a mount point is none. Reads nothing.
bool has_dpkg_db(const std::string& root);

}  // namespace pkgunify
