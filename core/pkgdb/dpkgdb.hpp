// dpkg's database (ROOT/var/lib/dpkg) read with libapt-pkg.
#pragma once

#include "pkgdb/packagedb.hpp"

#include <memory>
#include <string>

namespace pkgunify {

// `admindir` is the host path of the dpkg admin directory (ROOT/var/lib/dpkg).
// Throws PackageDbError ("ADMINDIR/status:LINE: message" for a corrupt
// status file) when it is missing or cannot be read.
std::unique_ptr<PackageDb> make_dpkg_db(const std::string& admindir);

}  // namespace pkgunify
