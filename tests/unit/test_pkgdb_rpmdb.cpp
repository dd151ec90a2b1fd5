// SPDX-License-Identifier: GPL-2.0-or-later
// rpm database reader: a root made with `rpm --initdb`, a package built by
// rpmbuild from a minimal spec and installed with `rpm --root -i`, read
// back through open_package_db; and the package file read through
// read_rpm_file.
#include "pkgdb/rpmdb.hpp"

#include "pkgdb/pkgdb.hpp"
#include "procutil.hpp"
#include "store/sha256.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using namespace pkgunify;
using pkgunify::test::db_error;
using pkgunify::test::PackageSuite;
using pkgunify::test::run;
using pkgunify::test::RunResult;
using pkgunify::test::write_file;

namespace fs = std::filesystem;

namespace {

const std::string k_tool = "#!/bin/sh\necho tool\n";
const std::string k_conf = "setting = 1\n";

std::string
sha256_hex(const std::string& bytes)
{
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return to_hex(h.finish());
}

const PackageFile*
find_file(const PackageInfo& pkg, const std::string& path)
{
  auto it = std::find_if(pkg.files.begin(), pkg.files.end(), [&](const PackageFile& f) { return f.path == path; });
  return it == pkg.files.end() ? nullptr : &*it;
}

const ArchiveEntry*
find_entry(const ArchiveInfo& info, const std::string& path)
{
  auto it =
    std::find_if(info.entries.begin(), info.entries.end(), [&](const ArchiveEntry& e) { return e.path == path; });
  return it == info.entries.end() ? nullptr : &*it;
}

// pkgu-one 1.0-1 (noarch): /usr/bin/tool (0755), /usr/bin/tool-link -> tool,
// /etc/tool.conf (%config), the directory /usr/share/pkgu-one; and pkgu-two
// 2.0-3 with /usr/lib/pkgu-two/data. Built once for the suite.
class RpmDbTest : public pkgunify::test::TempDirTest
{
protected:
  static void
  SetUpTestSuite()
  {
    if (!s_suite.start("needs root to install packages into a root with rpm", {"rpm", "rpmbuild"},
                       "rpm and rpmbuild are not available", "/tmp/pkgunify-rpmdb.XXXXXX")) {
      return;
    }
    s_one =
      build("pkgu-one", "1.0", "1", {{"/usr/bin/tool", k_tool, 0755, false}, {"/etc/tool.conf", k_conf, 0644, true}},
            "/usr/bin/tool-link\n%dir /usr/share/pkgu-one\n",
            "ln -s tool %{buildroot}/usr/bin/tool-link\nmkdir -p %{buildroot}/usr/share/pkgu-one\n");
    s_two = build("pkgu-two", "2.0", "3", {{"/usr/lib/pkgu-two/data", "data\n", 0644, false}}, "", "");
  }

  static void
  TearDownTestSuite()
  {
    s_suite.remove();
  }

  void
  SetUp() override
  {
    if (!s_suite.skip.empty()) {
      GTEST_SKIP() << s_suite.skip;
    }
    ASSERT_EQ(s_suite.error, "");
    TempDirTest::SetUp();
    root = path("root");
  }

  // `rpm --root ROOT --dbpath /DBDIR ARGS...`.
  RunResult
  rpm_in(const std::string& dbdir, const std::vector<std::string>& args) const
  {
    std::vector<std::string> argv{"rpm", "--root", root, "--dbpath", "/" + dbdir};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  void
  install(const std::vector<std::string>& packages, const std::string& dbdir = "var/lib/rpm")
  {
    fs::create_directories(root);
    const RunResult init = rpm_in(dbdir, {"--initdb"});
    ASSERT_EQ(init.status, 0) << init.output;
    std::vector<std::string> args{"-i", "--nodeps", "--replacepkgs"};
    args.insert(args.end(), packages.begin(), packages.end());
    const RunResult r = rpm_in(dbdir, args);
    ASSERT_EQ(r.status, 0) << r.output;
  }

  std::string root;
  static inline PackageSuite s_suite;
  static inline std::string s_one;
  static inline std::string s_two;

private:
  struct File
  {
    std::string path;
    std::string content;
    mode_t mode;
    bool config;
  };

  // Builds NAME-VERSION-RELEASE.noarch.rpm as tests/integration/pkgbuild.cpp
  // does; `extra_files` and `extra_install` add to the %files and %install
  // sections. Returns the package's path; sets s_suite.error on failure.
  static std::string
  build(const std::string& name, const std::string& version, const std::string& release, const std::vector<File>& files,
        const std::string& extra_files, const std::string& extra_install)
  {
    const std::string top = s_suite.dir + "/rpmbuild-" + name;
    const std::string tree = top + "/tree";
    std::string spec = "%define __os_install_post %{nil}\n%define debug_package %{nil}\n"
                       "%define _build_id_links none\n%define _binary_filedigest_algorithm 8\n";
    spec += "Name: " + name + "\nVersion: " + version + "\nRelease: " + release + "\n";
    spec += "Summary: pkgunify test package\nLicense: MIT\nBuildArch: noarch\n";
    spec += "%description\npkgunify test package\n";
    spec += "%install\nmkdir -p %{buildroot}\ncp -a " + tree + "/. %{buildroot}/\n" + extra_install;
    spec += "%files\n" + extra_files;
    for (const File& f : files) {
      write_file(tree + f.path, f.content, f.mode);
      spec += (f.config ? "%config(noreplace) " : "") + f.path + "\n";
    }
    write_file(top + "/SPECS/p.spec", spec);
    const RunResult r = run({"rpmbuild", "--define", "_topdir " + top, "-bb", top + "/SPECS/p.spec"});
    const std::string rpm = top + "/RPMS/noarch/" + name + "-" + version + "-" + release + ".noarch.rpm";
    if (r.status != 0 || !fs::exists(rpm)) {
      s_suite.error += "rpmbuild of " + name + " failed:\n" + r.output;
    }
    return rpm;
  }
};

}  // namespace

TEST_F(RpmDbTest, ARootWithoutAnRpmDatabaseHasNoneAndGetsNone)
{
  fs::create_directories(root + "/var/lib");
  EXPECT_EQ(find_rpm_db(root), std::nullopt);
  EXPECT_EQ(open_package_db(root), nullptr);
  EXPECT_EQ(db_error([&] { open_package_db(root, "rpm"); }), "no rpm database in " + root + " (looked in " + root
                                                               + "/var/lib/rpm, " + root + "/usr/lib/sysimage/rpm, "
                                                               + root + "/root/.rpmdb)");
  EXPECT_EQ(db_error([&] { make_rpm_db(root); }), db_error([&] { open_rpm_db(root); }));
  // Nothing was created on the way: librpm is never asked to open a
  // database that is not there.
  for (const char* db_dir : k_rpm_db_dirs) {
    EXPECT_FALSE(fs::exists(root + "/" + db_dir)) << db_dir;
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(root), fs::directory_iterator()), 1);
}

TEST_F(RpmDbTest, AnEmptyDirectoryIsNoDatabase)
{
  fs::create_directories(root + "/var/lib/rpm");
  EXPECT_EQ(find_rpm_db(root), std::nullopt);
  EXPECT_EQ(open_package_db(root), nullptr);
  EXPECT_TRUE(fs::is_empty(root + "/var/lib/rpm"));
}

TEST_F(RpmDbTest, ReadsNamesFilesConfigFlagsAndDigests)
{
  install({s_one, s_two});
  ASSERT_EQ(find_rpm_db(root), "var/lib/rpm");
  auto db = open_package_db(root);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->kind(), "rpm");
  EXPECT_EQ(db->location(), root + "/var/lib/rpm");
  auto pkgs = db->packages();
  ASSERT_EQ(pkgs.size(), 2u);
  std::sort(pkgs.begin(), pkgs.end(), [](const PackageInfo& a, const PackageInfo& b) { return a.name < b.name; });
  const PackageInfo& one = pkgs[0];
  EXPECT_EQ(one.name, "pkgu-one");
  EXPECT_EQ(one.version, "1.0-1");
  EXPECT_EQ(one.arch, "noarch");
  EXPECT_EQ(pkgs[1].name, "pkgu-two");
  EXPECT_EQ(pkgs[1].version, "2.0-3");
  ASSERT_EQ(one.files.size(), 4u);

  const PackageFile* tool = find_file(one, "/usr/bin/tool");
  ASSERT_NE(tool, nullptr);
  EXPECT_FALSE(tool->config);
  EXPECT_EQ(tool->digest_algo, DigestAlgo::sha256);
  EXPECT_EQ(tool->digest, sha256_hex(k_tool));

  const PackageFile* conf = find_file(one, "/etc/tool.conf");
  ASSERT_NE(conf, nullptr);
  EXPECT_TRUE(conf->config);
  EXPECT_EQ(conf->digest_algo, DigestAlgo::sha256);
  EXPECT_EQ(conf->digest, sha256_hex(k_conf));

  for (const char* p : {"/usr/bin/tool-link", "/usr/share/pkgu-one"}) {
    const PackageFile* f = find_file(one, p);
    ASSERT_NE(f, nullptr) << p;
    EXPECT_FALSE(f->config) << p;
  }
  ASSERT_EQ(pkgs[1].files.size(), 1u);
  EXPECT_EQ(pkgs[1].files[0].path, "/usr/lib/pkgu-two/data");
  EXPECT_EQ(pkgs[1].files[0].digest, sha256_hex("data\n"));
}

// The database holds an empty digest for symlinks and directories (`rpm -q
// --qf '[%{FILEDIGESTS}\n]'` prints ""), as packagedb.hpp promises; the
// reader gave 64 zeros (rpmfiFDigestHex of an empty digest), so `pkgunify
// verify` reported an error for every packaged symlink of an rpm root.
TEST_F(RpmDbTest, SymlinksAndDirectoriesHaveNoDigest)
{
  install({s_one});
  auto pkgs = open_rpm_db(root)->packages();
  ASSERT_EQ(pkgs.size(), 1u);
  for (const char* p : {"/usr/bin/tool-link", "/usr/share/pkgu-one"}) {
    const PackageFile* f = find_file(pkgs[0], p);
    ASSERT_NE(f, nullptr) << p;
    EXPECT_EQ(f->digest, "") << p;
    EXPECT_EQ(f->digest_algo, DigestAlgo::none) << p;
  }
}

TEST_F(RpmDbTest, PackagesByNameInTheOrderAsked)
{
  install({s_one, s_two});
  auto db = open_rpm_db(root);
  std::vector<std::string> missing;
  auto pkgs = db->packages({"pkgu-two", "not-installed", "pkgu-one"}, missing);
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[0].name, "pkgu-two");
  EXPECT_EQ(pkgs[1].name, "pkgu-one");
  EXPECT_EQ(pkgs[1].files.size(), 4u);
  EXPECT_EQ(missing, (std::vector<std::string>{"not-installed"}));
}

TEST_F(RpmDbTest, StampsAndChangeMarkerFollowEveryInstall)
{
  install({s_one});
  auto db = open_rpm_db(root);
  const auto stamps = db->stamps();
  ASSERT_EQ(stamps.size(), 1u);
  EXPECT_EQ(stamps[0].name, "pkgu-one");
  EXPECT_TRUE(stamps[0].fingerprint.starts_with("1.0-1.noarch ")) << stamps[0].fingerprint;
  const std::string marker = db->change_marker();
  EXPECT_TRUE(marker.starts_with("rpm rpmdb.sqlite=")) << marker;
  EXPECT_EQ(db->change_marker(), marker);

  install({s_one});  // a reinstall: the same name and version, a new record
  const auto again = db->stamps();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_NE(again[0].fingerprint, stamps[0].fingerprint);
  EXPECT_NE(db->change_marker(), marker);
}

TEST_F(RpmDbTest, EveryDatabaseDirectoryIsFound)
{
  for (const char* db_dir : k_rpm_db_dirs) {
    SCOPED_TRACE(db_dir);
    fs::remove_all(root);
    install({s_two}, db_dir);
    EXPECT_EQ(find_rpm_db(root), db_dir);
    auto db = open_package_db(root);
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->location(), root + "/" + db_dir);
    const auto pkgs = db->packages();
    ASSERT_EQ(pkgs.size(), 1u);
    EXPECT_EQ(pkgs[0].name, "pkgu-two");
  }
}

TEST_F(RpmDbTest, ACorruptDatabaseNamesIt)
{
  install({s_one});
  const std::string db_dir = root + "/var/lib/rpm";
  for (const char* f : {"rpmdb.sqlite-wal", "rpmdb.sqlite-shm"}) {
    fs::remove(db_dir + "/" + f);
  }
  write_file(db_dir + "/rpmdb.sqlite", std::string(8192, 'x'));
  auto db = open_package_db(root);
  ASSERT_NE(db, nullptr);
  const std::string message = db_error([&] { db->packages(); });
  EXPECT_TRUE(message.starts_with(db_dir + ": cannot ")) << message;
}

TEST_F(RpmDbTest, PackageFileHeaderListsEntriesWithConfigFlagsAndSizes)
{
  const ArchiveInfo info = read_rpm_file(s_one);
  EXPECT_EQ(info.name, "pkgu-one");
  EXPECT_EQ(info.version, "1.0-1");
  EXPECT_EQ(info.arch, "noarch");
  ASSERT_EQ(info.entries.size(), 4u);
  const ArchiveEntry* tool = find_entry(info, "/usr/bin/tool");
  ASSERT_NE(tool, nullptr);
  EXPECT_TRUE(tool->regular);
  EXPECT_EQ(tool->size, k_tool.size());
  EXPECT_EQ(tool->mode, S_IFREG | 0755u);
  EXPECT_FALSE(tool->config);
  const ArchiveEntry* conf = find_entry(info, "/etc/tool.conf");
  ASSERT_NE(conf, nullptr);
  EXPECT_TRUE(conf->config);
  EXPECT_EQ(conf->size, k_conf.size());
  const ArchiveEntry* link = find_entry(info, "/usr/bin/tool-link");
  ASSERT_NE(link, nullptr);
  EXPECT_FALSE(link->regular);
  EXPECT_TRUE(S_ISLNK(link->mode));
  const ArchiveEntry* share = find_entry(info, "/usr/share/pkgu-one");
  ASSERT_NE(share, nullptr);
  EXPECT_TRUE(S_ISDIR(share->mode));
}

TEST_F(RpmDbTest, WhatIsNoPackageFileIsNamed)
{
  write_file(path("garbage.rpm"), "this is no rpm\n");
  EXPECT_TRUE(db_error([&] {
                read_rpm_file(path("garbage.rpm"));
              }).starts_with(path("garbage.rpm") + ": not a readable rpm package"));
  EXPECT_TRUE(
    db_error([&] { read_rpm_file(path("missing.rpm")); }).starts_with(path("missing.rpm") + ": cannot open package: "));
}
