// SPDX-License-Identifier: GPL-2.0-or-later
// dpkg's info directory (core/pkgdb/dpkg_info.cpp), through the dpkg
// database: file lists, md5sums and conffiles, the info file names of
// Multi-Arch: same packages, and corrupt or missing info files.
#include "dpkg_fixture.hpp"
#include "pkgdb/dpkgdb.hpp"
#include "procutil.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using pkgunify::DigestAlgo;
using pkgunify::make_dpkg_db;
using pkgunify::PackageFile;
using pkgunify::PackageInfo;

namespace fs = std::filesystem;

using pkgunify::test::db_error;
using pkgunify::test::DpkgDbSynthetic;
using pkgunify::test::find_file;
using pkgunify::test::md5_a;
using pkgunify::test::md5_b;
using pkgunify::test::names_of;

TEST_F(DpkgDbSynthetic, ReadsPackagesFilesConffilesAndDigests)
{
  two_packages();
  const auto pkgs = make_dpkg_db(admin)->packages();
  ASSERT_EQ(names_of(pkgs), (std::vector<std::string>{"a", "b"}));
  const PackageInfo& a = pkgs[0];
  EXPECT_EQ(a.version, "1.0-1");
  EXPECT_EQ(a.arch, "all");
  std::vector<std::string> paths;
  for (const PackageFile& f : a.files) {
    paths.push_back(f.path);
  }
  // "/." is left out, directories stay.
  EXPECT_EQ(paths, (std::vector<std::string>{"/etc", "/etc/a.conf", "/usr", "/usr/bin", "/usr/bin/a"}));
  const PackageFile* conf = find_file(a, "/etc/a.conf");
  ASSERT_NE(conf, nullptr);
  EXPECT_TRUE(conf->config);
  EXPECT_EQ(conf->digest_algo, DigestAlgo::md5);
  EXPECT_EQ(conf->digest, md5_a);
  const PackageFile* bin = find_file(a, "/usr/bin/a");
  ASSERT_NE(bin, nullptr);
  EXPECT_FALSE(bin->config);
  EXPECT_EQ(bin->digest_algo, DigestAlgo::md5);
  EXPECT_EQ(bin->digest, md5_b);
  const PackageFile* usr_bin = find_file(a, "/usr/bin");
  ASSERT_NE(usr_bin, nullptr);
  EXPECT_EQ(usr_bin->digest_algo, DigestAlgo::none);
  EXPECT_TRUE(usr_bin->digest.empty());
  EXPECT_EQ(pkgs[1].version, "2:3.4");
  EXPECT_EQ(pkgs[1].arch, "amd64");
}

TEST_F(DpkgDbSynthetic, MultiArchSameUsesQualifiedInfoFiles)
{
  status("Package: libx\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1\n\n"
         "Package: libx\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 1\n\n"
         "Package: tool\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: foreign\nVersion: 1\n");
  info("libx:amd64.list", "/.\n/usr/lib/x86_64-linux-gnu/libx.so.1\n");
  info("libx:amd64.md5sums", md5_a + "  usr/lib/x86_64-linux-gnu/libx.so.1\n");
  info("libx:i386.list", "/.\n/usr/lib/i386-linux-gnu/libx.so.1\n");
  info("tool.list", "/.\n/usr/bin/tool\n");
  auto db = make_dpkg_db(admin);
  const auto pkgs = db->packages();
  ASSERT_EQ(names_of(pkgs), (std::vector<std::string>{"libx:amd64", "libx:i386", "tool"}));
  ASSERT_EQ(pkgs[0].files.size(), 1u);
  EXPECT_EQ(pkgs[0].files[0].path, "/usr/lib/x86_64-linux-gnu/libx.so.1");
  EXPECT_EQ(pkgs[0].files[0].digest, md5_a);
  EXPECT_EQ(pkgs[1].files[0].path, "/usr/lib/i386-linux-gnu/libx.so.1");
  EXPECT_EQ(pkgs[1].arch, "i386");

  std::vector<std::string> missing;
  const auto some = db->packages({"libx:i386", "libx", "tool:amd64", "tool:i386"}, missing);
  EXPECT_EQ(names_of(some), (std::vector<std::string>{"libx:i386", "libx:amd64", "libx:i386", "tool"}));
  EXPECT_EQ(missing, (std::vector<std::string>{"tool:i386"}));
}

TEST_F(DpkgDbSynthetic, FallsBackToTheOtherInfoFileName)
{
  // A database converted from pre-multiarch dpkg, and the reverse.
  status("Package: liby\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1\n\n"
         "Package: z\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n");
  info("liby.list", "/.\n/usr/lib/liby.so\n");
  info("z:amd64.list", "/.\n/usr/bin/z\n");
  const auto pkgs = make_dpkg_db(admin)->packages();
  ASSERT_EQ(pkgs.size(), 2u);
  EXPECT_EQ(pkgs[0].name, "liby:amd64");
  EXPECT_EQ(pkgs[0].files.at(0).path, "/usr/lib/liby.so");
  EXPECT_EQ(pkgs[1].files.at(0).path, "/usr/bin/z");
}

TEST_F(DpkgDbSynthetic, ConffileFlagsAndSpecialHashes)
{
  status("Package: c\nStatus: install ok unpacked\nVersion: 1\nConffiles:\n"
         " /etc/new.conf newconffile\n"
         " /etc/old.conf "
         + md5_a
         + " obsolete\n"
           " /etc/rm.conf "
         + md5_b
         + " obsolete remove-on-upgrade\n"
           " /etc/with space.conf "
         + md5_b
         + "\n"
           " /usr/lib/c/c.conf "
         + md5_a + "\n");
  info("c.list", "/.\n/etc\n/etc/new.conf\n/etc/with space.conf\n/usr/lib/c/c.conf\n");
  info("c.md5sums", md5_b + "  etc/new.conf\n" + md5_b + "  usr/lib/c/c.conf\n");
  info("c.conffiles", "/etc/new.conf\n/etc/extra.conf\nremove-on-upgrade /etc/rm.conf\n");
  const auto pkgs = make_dpkg_db(admin)->packages();
  ASSERT_EQ(pkgs.size(), 1u);
  const PackageInfo& c = pkgs[0];
  // newconffile: the digest comes from md5sums.
  ASSERT_NE(find_file(c, "/etc/new.conf"), nullptr);
  EXPECT_TRUE(find_file(c, "/etc/new.conf")->config);
  EXPECT_EQ(find_file(c, "/etc/new.conf")->digest, md5_b);
  // The Conffiles field wins over md5sums.
  EXPECT_EQ(find_file(c, "/usr/lib/c/c.conf")->digest, md5_a);
  EXPECT_TRUE(find_file(c, "/usr/lib/c/c.conf")->config);
  EXPECT_TRUE(find_file(c, "/etc/with space.conf")->config);
  // Conffiles not in the list (obsolete, only in info/c.conffiles) are
  // still reported, as config files.
  ASSERT_NE(find_file(c, "/etc/old.conf"), nullptr);
  EXPECT_TRUE(find_file(c, "/etc/old.conf")->config);
  EXPECT_EQ(find_file(c, "/etc/old.conf")->digest, md5_a);
  ASSERT_NE(find_file(c, "/etc/extra.conf"), nullptr);
  EXPECT_TRUE(find_file(c, "/etc/extra.conf")->config);
  EXPECT_EQ(find_file(c, "/etc/extra.conf")->digest_algo, DigestAlgo::none);
  ASSERT_NE(find_file(c, "/etc/rm.conf"), nullptr);
  EXPECT_EQ(
    std::count_if(c.files.begin(), c.files.end(), [](const PackageFile& f) { return f.path == "/etc/rm.conf"; }), 1);
  EXPECT_FALSE(find_file(c, "/etc")->config);
}

TEST_F(DpkgDbSynthetic, MissingListNamesIt)
{
  two_packages();
  fs::remove(admin + "/info/b.list");
  const std::string msg = db_error([&] { make_dpkg_db(admin)->packages(); });
  EXPECT_EQ(msg.rfind(admin + "/info/b.list: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
}

TEST_F(DpkgDbSynthetic, MissingInfoDirNamesTheList)
{
  two_packages();
  fs::remove_all(admin + "/info");
  const std::string msg = db_error([&] { make_dpkg_db(admin)->packages(); });
  EXPECT_EQ(msg.rfind(admin + "/info/a.list: ", 0), 0u) << msg;
}

TEST_F(DpkgDbSynthetic, RelativePathInListIsCorrupt)
{
  two_packages();
  info("a.list", "/.\n/usr\nusr/bin/a\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin)->packages(); }).find(admin + "/info/a.list: 3: "), std::string::npos);
}

TEST_F(DpkgDbSynthetic, MalformedMd5sumsLine)
{
  two_packages();
  info("a.md5sums", md5_b + "  usr/bin/a\nnot-a-hash  usr/bin/b\n");
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin)->packages(); }), admin + "/info/a.md5sums: 2: malformed md5sums line");
  info("a.md5sums", md5_b + "\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin)->packages(); }).find("a.md5sums: 1:"), std::string::npos);
}

TEST_F(DpkgDbSynthetic, UnreadableMd5sumsMeansNoDigests)
{
  two_packages();
  fs::remove(admin + "/info/a.md5sums");
  fs::create_directories(admin + "/info/a.md5sums");  // not a regular file
  const auto pkgs = make_dpkg_db(admin)->packages();
  const PackageFile* bin = find_file(pkgs.at(0), "/usr/bin/a");
  ASSERT_NE(bin, nullptr);
  EXPECT_EQ(bin->digest_algo, DigestAlgo::none);
  // The conffile still has the digest of the status file.
  EXPECT_EQ(find_file(pkgs.at(0), "/etc/a.conf")->digest, md5_a);
}

TEST_F(DpkgDbSynthetic, InfoSymlinkIsNotFollowed)
{
  two_packages();
  fs::remove(admin + "/info/b.list");
  fs::create_symlink("/etc/passwd", admin + "/info/b.list");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin)->packages(); }).find(admin + "/info/b.list"), std::string::npos);
}

namespace {

// The paths packages() marks as config, sorted.
std::vector<std::string>
config_paths(const std::vector<PackageInfo>& pkgs, bool only_config_listed)
{
  std::vector<std::string> out;
  for (const PackageInfo& pkg : pkgs) {
    for (const PackageFile& f : pkg.files) {
      if (f.config) {
        out.push_back(pkg.name + " " + f.path);
      } else if (only_config_listed) {
        out.push_back("not config: " + f.path);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

// A scan's filter reads the conffiles only (config_files): the same config
// files packages() marks, under either info file name, without the lists.
TEST_F(DpkgDbSynthetic, ConfigFilesAreWhatPackagesMarksWithoutTheLists)
{
  status("Package: c\nStatus: install ok unpacked\nVersion: 1\nConffiles:\n"
         " /etc/new.conf newconffile\n"
         " /etc/old.conf "
         + md5_a
         + " obsolete\n"
           " /usr/lib/c/c.conf "
         + md5_a
         + "\n\n"
           "Package: libx\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1\n\n"
           "Package: z\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n");
  info("c.list", "/.\n/etc\n/etc/new.conf\n/usr/lib/c/c.conf\n/usr/bin/c\n");
  info("c.conffiles", "/etc/new.conf\n/etc/extra.conf\nremove-on-upgrade /etc/rm.conf\n");
  info("libx:amd64.list", "/.\n/etc/libx.conf\n/usr/lib/libx.so\n");
  info("libx:amd64.conffiles", "/etc/libx.conf\n");
  info("z:amd64.list", "/.\n/etc/z.conf\n/usr/bin/z\n");  // the other name, as converted databases have
  info("z:amd64.conffiles", "/etc/z.conf\n");
  auto db = make_dpkg_db(admin);
  const auto config = db->config_files();
  EXPECT_EQ(config_paths(config, true), config_paths(db->packages(), false));
  EXPECT_EQ(config_paths(config, true),
            (std::vector<std::string>{"c /etc/extra.conf", "c /etc/new.conf", "c /etc/old.conf", "c /etc/rm.conf",
                                      "c /usr/lib/c/c.conf", "libx:amd64 /etc/libx.conf", "z /etc/z.conf"}));
  EXPECT_EQ(find_file(config.at(0), "/usr/lib/c/c.conf")->digest, md5_a);
  // No list is read: a missing one fails packages() only.
  fs::remove(admin + "/info/c.list");
  EXPECT_NE(db_error([&] { db->packages(); }).find("c.list"), std::string::npos);
  EXPECT_EQ(config_paths(db->config_files(), true), config_paths(config, true));
  // An unreadable conffiles file is an error all the same.
  fs::remove(admin + "/info/z:amd64.conffiles");
  fs::create_directories(admin + "/info/z:amd64.conffiles");
  EXPECT_NE(db_error([&] { db->config_files(); }).find(admin + "/info/z:amd64.conffiles"), std::string::npos);
}
