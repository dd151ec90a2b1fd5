// SPDX-License-Identifier: GPL-2.0-or-later
#include "pkgdb/pkgdb.hpp"

#include "pkgdb/dpkgdb.hpp"
#include "pkgdb/rpmdb.hpp"

#include <algorithm>

namespace pkgunify {

std::vector<PackageInfo>
PackageDb::config_files()
{
  std::vector<PackageInfo> all = packages();
  for (PackageInfo& pkg : all) {
    std::erase_if(pkg.files, [](const PackageFile& f) { return !f.config; });
  }
  return all;
}

std::unique_ptr<PackageDb>
open_dpkg_db(const std::string& root)
{
  return make_root_dpkg_db(root);
}

std::unique_ptr<PackageDb>
open_rpm_db(const std::string& root)
{
  return make_rpm_db(root);
}

std::unique_ptr<PackageDb>
open_package_db(const std::string& root, const std::string& prefer)
{
  if (prefer == "rpm") {
    return open_rpm_db(root);
  }
  if (prefer == "dpkg") {
    return open_dpkg_db(root);
  }
  if (!prefer.empty() && prefer != "auto") {
    throw ConfigError("unknown package database kind '" + prefer + "' (rpm, dpkg or auto)");
  }
  const bool dpkg = has_dpkg_db(root);
  const bool rpm = find_rpm_db(root).has_value();
  if (dpkg && rpm) {
    throw PackageDbError(root + " has both a dpkg and an rpm database; choose one with --db dpkg or --db rpm");
  }
  if (dpkg) {
    return open_dpkg_db(root);
  }
  if (rpm) {
    return open_rpm_db(root);
  }
  return nullptr;
}

}  // namespace pkgunify
