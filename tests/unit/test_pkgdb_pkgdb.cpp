// SPDX-License-Identifier: GPL-2.0-or-later
// open_package_db: which database a root has, probed without creating
// anything; a synthetic dpkg status file and an empty rpm database made by
// `rpm --initdb`.
#include "pkgdb/pkgdb.hpp"

#include "procutil.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

using namespace pkgunify;
using pkgunify::test::db_error;
using pkgunify::test::have_tool;
using pkgunify::test::run;
using pkgunify::test::write_file;

namespace fs = std::filesystem;

namespace {

class OpenPackageDb : public pkgunify::test::TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    root = path("root");
    fs::create_directories(root);
  }

  void
  make_dpkg_status()
  {
    write_file(root + "/var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nVersion: 1\n\n");
    write_file(root + "/var/lib/dpkg/info/a.list", "/.\n/usr\n/usr/bin/a\n");
  }

  // An empty rpm database in var/lib/rpm; false when rpm is missing.
  bool
  make_rpm_db()
  {
    if (!have_tool("rpm")) {
      return false;
    }
    const auto r = run({"rpm", "--root", root, "--dbpath", "/var/lib/rpm", "--initdb"});
    EXPECT_EQ(r.status, 0) << r.output;
    return r.status == 0;
  }

  // The ConfigError (PackageDbError included) open_package_db throws.
  std::string
  config_error(const std::string& prefer)
  {
    try {
      open_package_db(root, prefer);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }

  std::string root;
};

}  // namespace

TEST_F(OpenPackageDb, NeitherDatabaseGivesNullAndCreatesNothing)
{
  EXPECT_EQ(open_package_db(root), nullptr);
  EXPECT_EQ(open_package_db(root, "auto"), nullptr);
  EXPECT_TRUE(fs::is_empty(root));
}

TEST_F(OpenPackageDb, ADpkgStatusFileIsADpkgDatabase)
{
  make_dpkg_status();
  for (const char* prefer : {"", "auto", "dpkg"}) {
    auto db = open_package_db(root, prefer);
    ASSERT_NE(db, nullptr) << prefer;
    EXPECT_EQ(db->kind(), "dpkg");
    ASSERT_EQ(db->packages().size(), 1u);
  }
}

TEST_F(OpenPackageDb, AnRpmDatabaseIsAnRpmDatabase)
{
  if (!make_rpm_db()) {
    GTEST_SKIP() << "rpm is not installed";
  }
  for (const char* prefer : {"", "auto", "rpm"}) {
    auto db = open_package_db(root, prefer);
    ASSERT_NE(db, nullptr) << prefer;
    EXPECT_EQ(db->kind(), "rpm");
    EXPECT_EQ(db->location(), root + "/var/lib/rpm");
    EXPECT_TRUE(db->packages().empty());
  }
}

TEST_F(OpenPackageDb, BothDatabasesNeedAChoice)
{
  if (!make_rpm_db()) {
    GTEST_SKIP() << "rpm is not installed";
  }
  make_dpkg_status();
  EXPECT_EQ(db_error([&] { open_package_db(root); }),
            root + " has both a dpkg and an rpm database; choose one with --db dpkg or --db rpm");
  EXPECT_EQ(db_error([&] { open_package_db(root, "auto"); }), db_error([&] { open_package_db(root); }));
  EXPECT_EQ(open_package_db(root, "dpkg")->kind(), "dpkg");
  EXPECT_EQ(open_package_db(root, "rpm")->kind(), "rpm");
}

TEST_F(OpenPackageDb, AChosenDatabaseMustBeThere)
{
  EXPECT_EQ(db_error([&] { open_package_db(root, "dpkg"); }),
            root + "/var/lib/dpkg/status: cannot read dpkg status: No such file or directory");
  EXPECT_TRUE(db_error([&] { open_package_db(root, "rpm"); }).starts_with("no rpm database in " + root));
  EXPECT_TRUE(fs::is_empty(root));
}

TEST_F(OpenPackageDb, AnUnknownKindIsAConfigError)
{
  EXPECT_EQ(config_error("apk"), "unknown package database kind 'apk' (rpm, dpkg or auto)");
  EXPECT_EQ(config_error("RPM"), "unknown package database kind 'RPM' (rpm, dpkg or auto)");
}
