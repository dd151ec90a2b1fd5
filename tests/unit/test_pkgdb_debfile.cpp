// SPDX-License-Identifier: GPL-2.0-or-later
// .deb reader: packages built by dpkg-deb with every compression it offers,
// a data.tar.bz2 package assembled with ar, and broken files.
#include "pkgdb/debfile.hpp"
#include "procutil.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using pkgunify::ArchiveEntry;
using pkgunify::ArchiveInfo;
using pkgunify::PackageDbError;
using pkgunify::read_deb;

namespace fs = std::filesystem;

namespace {

using pkgunify::test::have_tool;
using pkgunify::test::read_file;
using pkgunify::test::run;
using pkgunify::test::RunResult;
using pkgunify::test::write_file;

std::string
deb_error(const std::string& path)
{
  return pkgunify::test::db_error([&] { read_deb(path); });
}

const ArchiveEntry*
find_entry(const ArchiveInfo& info, const std::string& path)
{
  auto it =
    std::find_if(info.entries.begin(), info.entries.end(), [&](const ArchiveEntry& e) { return e.path == path; });
  return it == info.entries.end() ? nullptr : &*it;
}

class DebFileTest : public pkgunify::test::TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    if (!have_tool("dpkg-deb")) {
      GTEST_SKIP() << "dpkg-deb is not available";
    }
  }

  // A package tree with conffiles in /etc and in /usr/lib, a binary, a
  // library, a symlink and a hard link.
  std::string
  make_tree()
  {
    const std::string root = path("tree");
    write_file(root + "/DEBIAN/control", "Package: pkgunify-deb\n"
                                         "Version: 4.5-6\n"
                                         "Architecture: amd64\n"
                                         "Maintainer: pkgunify tests <tests@example.org>\n"
                                         "Description: test package\n"
                                         " Package: not-this-one\n");
    write_file(root + "/DEBIAN/conffiles", "/etc/pkgunify-deb/main.conf\n"
                                           "/usr/lib/pkgunify-deb/lib.conf\n"
                                           "remove-on-upgrade /etc/pkgunify-deb/old.conf\n");
    write_file(root + "/etc/pkgunify-deb/main.conf", "main = 1\n");
    write_file(root + "/usr/lib/pkgunify-deb/lib.conf", "lib = 22\n");
    write_file(root + "/usr/bin/pkgunify-deb", "#!/bin/sh\necho deb\n", 0755);
    std::string lib(12345, 'x');
    write_file(root + "/usr/lib/libpkgunify-deb.so.1", lib);
    fs::create_symlink("libpkgunify-deb.so.1", root + "/usr/lib/libpkgunify-deb.so");
    fs::create_hard_link(root + "/usr/bin/pkgunify-deb", root + "/usr/bin/pkgunify-deb-hard");
    return root;
  }

  std::string
  build(const std::string& compression)
  {
    const std::string root = make_tree();
    const std::string deb = path("pkg-" + compression + ".deb");
    const RunResult r = run({"dpkg-deb", "--root-owner-group", "-Z" + compression, "--build", root, deb});
    EXPECT_EQ(r.status, 0) << r.output;
    return deb;
  }

  void
  check_package(const ArchiveInfo& info)
  {
    EXPECT_EQ(info.name, "pkgunify-deb");
    EXPECT_EQ(info.version, "4.5-6");
    EXPECT_EQ(info.arch, "amd64");
    std::vector<std::string> paths;
    for (const ArchiveEntry& e : info.entries) {
      paths.push_back(e.path);
    }
    std::sort(paths.begin(), paths.end());
    EXPECT_EQ(paths, (std::vector<std::string>{
                       "/etc", "/etc/pkgunify-deb", "/etc/pkgunify-deb/main.conf", "/usr", "/usr/bin",
                       "/usr/bin/pkgunify-deb", "/usr/bin/pkgunify-deb-hard", "/usr/lib", "/usr/lib/libpkgunify-deb.so",
                       "/usr/lib/libpkgunify-deb.so.1", "/usr/lib/pkgunify-deb", "/usr/lib/pkgunify-deb/lib.conf"}));
    for (const ArchiveEntry& e : info.entries) {
      const bool conffile = e.path == "/etc/pkgunify-deb/main.conf" || e.path == "/usr/lib/pkgunify-deb/lib.conf";
      EXPECT_EQ(e.config, conffile) << e.path;
    }
    const ArchiveEntry* main = find_entry(info, "/etc/pkgunify-deb/main.conf");
    ASSERT_NE(main, nullptr);
    EXPECT_TRUE(main->regular);
    EXPECT_EQ(main->size, 9u);
    EXPECT_EQ(find_entry(info, "/usr/lib/pkgunify-deb/lib.conf")->size, 9u);
    const ArchiveEntry* bin = find_entry(info, "/usr/bin/pkgunify-deb");
    ASSERT_NE(bin, nullptr);
    EXPECT_TRUE(bin->regular);
    EXPECT_EQ(bin->size, 19u);
    EXPECT_EQ(bin->mode, static_cast<std::uint32_t>(S_IFREG | 0755));
    const ArchiveEntry* hard = find_entry(info, "/usr/bin/pkgunify-deb-hard");
    ASSERT_NE(hard, nullptr);
    EXPECT_TRUE(hard->regular);
    EXPECT_EQ(hard->size, 19u);
    EXPECT_TRUE(S_ISREG(hard->mode));
    const ArchiveEntry* lib = find_entry(info, "/usr/lib/libpkgunify-deb.so.1");
    ASSERT_NE(lib, nullptr);
    EXPECT_EQ(lib->size, 12345u);
    EXPECT_EQ(lib->mode & 07777, 0644u);
    const ArchiveEntry* link = find_entry(info, "/usr/lib/libpkgunify-deb.so");
    ASSERT_NE(link, nullptr);
    EXPECT_FALSE(link->regular);
    EXPECT_TRUE(S_ISLNK(link->mode));
    const ArchiveEntry* usr_bin = find_entry(info, "/usr/bin");
    ASSERT_NE(usr_bin, nullptr);
    EXPECT_FALSE(usr_bin->regular);
    EXPECT_TRUE(S_ISDIR(usr_bin->mode));
  }
};

class DebFileCompression
  : public DebFileTest
  , public ::testing::WithParamInterface<std::string>
{};

TEST_P(DebFileCompression, ListsEntriesWithConfigFlagsAndSizes)
{
  const std::string deb = build(GetParam());
  ASSERT_FALSE(HasFailure());
  check_package(read_deb(deb));
}

INSTANTIATE_TEST_SUITE_P(DpkgDeb, DebFileCompression, ::testing::Values("gzip", "xz", "zstd", "none"));

TEST_F(DebFileTest, DataTarBz2)
{
  if (!have_tool("ar") || !have_tool("bzip2")) {
    GTEST_SKIP() << "ar or bzip2 is not available";
  }
  const std::string deb = build("none");
  ASSERT_FALSE(HasFailure());
  const std::string work = path("bz2");
  fs::create_directories(work);
  ASSERT_EQ(run({"ar", "x", deb}, work).status, 0);
  ASSERT_EQ(run({"bzip2", "data.tar"}, work).status, 0);
  const RunResult r = run({"ar", "rc", "pkg.deb", "debian-binary", "control.tar", "data.tar.bz2"}, work);
  ASSERT_EQ(r.status, 0) << r.output;
  check_package(read_deb(work + "/pkg.deb"));
}

TEST_F(DebFileTest, TruncatedDebNamesTheFile)
{
  const std::string deb = build("xz");
  ASSERT_FALSE(HasFailure());
  const std::string full = read_file(deb);
  for (const std::size_t size : {std::size_t{0}, std::size_t{7}, std::size_t{100}, full.size() / 2, full.size() - 10}) {
    const std::string cut = path("cut-" + std::to_string(size) + ".deb");
    write_file(cut, full.substr(0, size));
    const std::string msg = deb_error(cut);
    EXPECT_EQ(msg.rfind(cut + ": ", 0), 0u) << "size " << size << ": " << msg;
  }
}

TEST_F(DebFileTest, GarbageAndMissingFiles)
{
  const std::string garbage = path("garbage.deb");
  write_file(garbage, std::string(5000, 'g'));
  EXPECT_EQ(deb_error(garbage).rfind(garbage + ": ", 0), 0u) << deb_error(garbage);
  const std::string missing = path("missing.deb");
  EXPECT_EQ(deb_error(missing), missing + ": cannot read .deb: No such file or directory");
  const std::string tarball = path("not-ar.deb");
  write_file(path("t/x"), "x");
  ASSERT_EQ(run({"tar", "-cf", tarball, "-C", path("t"), "x"}).status, 0);
  EXPECT_EQ(deb_error(tarball).rfind(tarball + ": ", 0), 0u) << deb_error(tarball);
}

TEST_F(DebFileTest, MissingOrMisorderedMembers)
{
  if (!have_tool("ar")) {
    GTEST_SKIP() << "ar is not available";
  }
  const std::string deb = build("gzip");
  ASSERT_FALSE(HasFailure());
  const std::string work = path("members");
  fs::create_directories(work);
  ASSERT_EQ(run({"ar", "x", deb}, work).status, 0);

  ASSERT_EQ(run({"ar", "rc", "nodata.deb", "debian-binary", "control.tar.gz"}, work).status, 0);
  EXPECT_EQ(deb_error(work + "/nodata.deb"), work + "/nodata.deb: malformed .deb: no data.tar member");

  ASSERT_EQ(run({"ar", "rc", "order.deb", "control.tar.gz", "debian-binary", "data.tar.gz"}, work).status, 0);
  EXPECT_NE(deb_error(work + "/order.deb").find("first member is 'control.tar.gz'"), std::string::npos);

  write_file(work + "/debian-binary", "3.0\n");
  ASSERT_EQ(run({"ar", "rc", "v3.deb", "debian-binary", "control.tar.gz", "data.tar.gz"}, work).status, 0);
  EXPECT_NE(deb_error(work + "/v3.deb").find("unsupported format version '3.0'"), std::string::npos);
}

TEST_F(DebFileTest, CorruptDataMember)
{
  if (!have_tool("ar")) {
    GTEST_SKIP() << "ar is not available";
  }
  const std::string deb = build("gzip");
  ASSERT_FALSE(HasFailure());
  const std::string work = path("corrupt");
  fs::create_directories(work);
  ASSERT_EQ(run({"ar", "x", deb}, work).status, 0);
  std::string data = read_file(work + "/data.tar.gz");
  ASSERT_GT(data.size(), 100u);
  for (std::size_t i = 20; i < data.size() - 8; i += 3) {
    data[i] = static_cast<char>(data[i] ^ 0x5a);
  }
  write_file(work + "/data.tar.gz", data);
  ASSERT_EQ(run({"ar", "rc", "bad.deb", "debian-binary", "control.tar.gz", "data.tar.gz"}, work).status, 0);
  EXPECT_EQ(deb_error(work + "/bad.deb").rfind(work + "/bad.deb: ", 0), 0u) << deb_error(work + "/bad.deb");
}

// A malformed control file or conffiles line is named with its member and
// line number.
TEST_F(DebFileTest, MalformedControlMembersNameTheLine)
{
  if (!have_tool("ar") || !have_tool("tar")) {
    GTEST_SKIP() << "ar or tar is not available";
  }
  const std::string deb = build("gzip");
  ASSERT_FALSE(HasFailure());
  auto remade = [&](const std::string& name, const std::string& control, const std::string& conffiles) {
    const std::string work = path(name);
    fs::create_directories(work + "/ctl");
    EXPECT_EQ(run({"ar", "x", deb}, work).status, 0);
    write_file(work + "/ctl/control", control);
    write_file(work + "/ctl/conffiles", conffiles);
    EXPECT_EQ(run({"tar", "czf", "control.tar.gz", "-C", "ctl", "./control", "./conffiles"}, work).status, 0);
    EXPECT_EQ(run({"ar", "rc", name + ".deb", "debian-binary", "control.tar.gz", "data.tar.gz"}, work).status, 0);
    return deb_error(work + "/" + name + ".deb");
  };
  const std::string good_control = "Package: p\nVersion: 1\nArchitecture: all\n";
  EXPECT_NE(remade("control", "Package: p\nVersion 1\n", "").find("control file, line 2: malformed line 'Version 1'"),
            std::string::npos);
  const std::string conffiles_error = remade("conffiles", good_control, "/etc/a\n\nkeep-please /etc/b\n");
  EXPECT_NE(conffiles_error.find("conffiles, line 3: malformed line 'keep-please /etc/b'"), std::string::npos)
    << conffiles_error;
}

}  // namespace
