// SPDX-License-Identifier: GPL-2.0-or-later
// The fixture of the dpkg database unit tests (test_pkgdb_dpkgdb.cpp,
// test_pkgdb_dpkg_status.cpp, test_pkgdb_dpkg_info.cpp): a synthetic admin
// dir and helpers to look into what the reader returns.
#pragma once

#include "pkgdb/dpkgdb.hpp"
#include "procutil.hpp"
#include "testutil.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace pkgunify::test {

inline const PackageFile*
find_file(const PackageInfo& pkg, const std::string& path)
{
  auto it = std::find_if(pkg.files.begin(), pkg.files.end(), [&](const PackageFile& f) { return f.path == path; });
  return it == pkg.files.end() ? nullptr : &*it;
}

inline std::vector<std::string>
names_of(const std::vector<PackageInfo>& pkgs)
{
  std::vector<std::string> out;
  for (const PackageInfo& p : pkgs) {
    out.push_back(p.name);
  }
  return out;
}

inline const std::string md5_a = "0123456789abcdef0123456789abcdef";
inline const std::string md5_b = "fedcba9876543210fedcba9876543210";

// A synthetic admin dir, ADMINDIR = TMP/var/lib/dpkg, for the corner cases.
class DpkgDbSynthetic : public TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    admin = path("var/lib/dpkg");
    fs::create_directories(admin + "/info");
  }

  void
  status(const std::string& text)
  {
    write_file(admin + "/status", text);
  }

  void
  info(const std::string& name, const std::string& text)
  {
    write_file(admin + "/info/" + name, text);
  }

  // Two installed packages, a and b, with lists and md5sums.
  void
  two_packages()
  {
    status("Package: a\n"
           "Status: install ok installed\n"
           "Architecture: all\n"
           "Version: 1.0-1\n"
           "Conffiles:\n"
           " /etc/a.conf "
           + md5_a
           + "\n"
             "Description: package a\n"
             " with a long description\n"
             " .\n"
             " and a paragraph\n"
             "\n"
             "Package: b\n"
             "Status: install ok installed\n"
             "Architecture: amd64\n"
             "Version: 2:3.4\n"
             "\n");
    info("a.list", "/.\n/etc\n/etc/a.conf\n/usr\n/usr/bin\n/usr/bin/a\n");
    info("a.md5sums", md5_b + "  usr/bin/a\n");
    info("b.list", "/.\n/usr\n/usr/lib\n/usr/lib/libb.so\n");
    info("b.md5sums", md5_a + "  usr/lib/libb.so\n");
  }

  std::string admin;
};

}  // namespace pkgunify::test
