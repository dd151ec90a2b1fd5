// SPDX-License-Identifier: GPL-2.0-or-later
// The dpkg database reader as a whole (core/pkgdb/dpkgdb.cpp): opening it,
// packages() by name, the journal of updates/, stamps and the change
// marker on synthetic admin dirs, and a guest root with real packages built
// by dpkg-deb and installed by `dpkg --root` for the real thing. The status
// file's corner cases are in test_pkgdb_dpkg_status.cpp, the info files'
// in test_pkgdb_dpkg_info.cpp.
#include "dpkg_fixture.hpp"
#include "pkgdb/dpkgdb.hpp"
#include "procutil.hpp"
#include "testutil.hpp"

#include <apt-pkg/error.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using pkgunify::DigestAlgo;
using pkgunify::make_dpkg_db;
using pkgunify::PackageDbError;
using pkgunify::PackageFile;
using pkgunify::PackageInfo;

namespace fs = std::filesystem;

namespace {

using pkgunify::test::db_error;
using pkgunify::test::DpkgDbSynthetic;
using pkgunify::test::find_file;
using pkgunify::test::md5_a;
using pkgunify::test::names_of;
using pkgunify::test::PackageSuite;
using pkgunify::test::read_file;
using pkgunify::test::run;
using pkgunify::test::RunResult;
using pkgunify::test::write_file;

const PackageInfo*
find_package(const std::vector<PackageInfo>& pkgs, const std::string& name)
{
  auto it = std::find_if(pkgs.begin(), pkgs.end(), [&](const PackageInfo& p) { return p.name == name; });
  return it == pkgs.end() ? nullptr : &*it;
}

TEST_F(DpkgDbSynthetic, KindAndLocation)
{
  two_packages();
  auto db = make_dpkg_db(admin);
  EXPECT_EQ(db->kind(), "dpkg");
  EXPECT_EQ(db->location(), admin);
  EXPECT_EQ(make_dpkg_db(admin + "/")->location(), admin);
}

TEST_F(DpkgDbSynthetic, PackagesByNameReadsOnlyTheirInfoFiles)
{
  two_packages();
  auto db = make_dpkg_db(admin);
  fs::remove(admin + "/info/b.list");
  std::vector<std::string> missing;
  const auto pkgs = db->packages({"a", "nope"}, missing);
  EXPECT_EQ(names_of(pkgs), (std::vector<std::string>{"a"}));
  EXPECT_EQ(missing, (std::vector<std::string>{"nope"}));
  EXPECT_NE(db_error([&] { db->packages(); }).find(admin + "/info/b.list"), std::string::npos);
}

TEST_F(DpkgDbSynthetic, MissingStatusOrAdmindir)
{
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }),
            admin + "/status: cannot read dpkg status: No such file or directory");
  EXPECT_EQ(db_error([&] { make_dpkg_db(path("nowhere/var/lib/dpkg")); }),
            path("nowhere/var/lib/dpkg") + "/status: cannot read dpkg status: No such file or directory");
  fs::create_directories(admin + "/status");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }).find(admin + "/status: cannot read dpkg status"), std::string::npos);
}

TEST_F(DpkgDbSynthetic, StatusRemovedAfterOpening)
{
  two_packages();
  auto db = make_dpkg_db(admin);
  fs::remove(admin + "/status");
  EXPECT_EQ(db_error([&] { db->packages(); }), admin + "/status: cannot read dpkg status: No such file or directory");
}

// A hundred thousand paths, every one read with its digest. No time limit:
// speed is for the benchmarks (a timed test failed under AddressSanitizer on
// a loaded machine); the duration is recorded as a property.
TEST_F(DpkgDbSynthetic, ReadsAHundredThousandPaths)
{
  constexpr int packages = 1500;
  constexpr int paths = 70;
  std::string st;
  for (int p = 0; p < packages; ++p) {
    const std::string name = "pkg" + std::to_string(p);
    st += "Package: " + name
          + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n"
            "Description: synthetic\n a package\n\n";
    std::string list = "/.\n/usr\n/usr/share\n/usr/share/" + name + "\n";
    std::string sums;
    for (int i = 0; i < paths; ++i) {
      const std::string rel = "usr/share/" + name + "/file-with-a-long-name-" + std::to_string(i);
      list += "/" + rel + "\n";
      sums += md5_a + "  " + rel + "\n";
    }
    info(name + ".list", list);
    info(name + ".md5sums", sums);
  }
  status(st);
  const auto start = std::chrono::steady_clock::now();
  const auto pkgs = make_dpkg_db(admin)->packages();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(pkgs.size(), static_cast<std::size_t>(packages));
  EXPECT_EQ(pkgs.back().files.size(), static_cast<std::size_t>(paths + 3));
  EXPECT_EQ(pkgs.back().files.back().digest, md5_a);
  std::size_t with_digest = 0;
  for (const auto& p : pkgs) {
    EXPECT_EQ(p.files.size(), static_cast<std::size_t>(paths + 3)) << p.name;
    for (const auto& f : p.files) {
      with_digest += f.digest == md5_a ? 1 : 0;
    }
  }
  EXPECT_EQ(with_digest, static_cast<std::size_t>(packages) * paths);
  RecordProperty("seconds", std::to_string(seconds));
}

// ---- a guest root with packages installed by dpkg ----------------------------

// Builds and installs, once for the suite:
//   pkgunify-test-a      all, installed: conffiles in /etc and in /usr/lib,
//                        a binary, a library, a symlink, a shipped md5sums
//                        without the conffiles (as debhelper makes it)
//   libpkgunify-test-b   host arch, Multi-Arch: same, installed, no md5sums
//                        shipped (dpkg computes one)
//   pkgunify-test-c      all, only unpacked (conffile hash "newconffile")
//   pkgunify-test-d      all, installed then removed (config-files)
class DpkgDbGuest : public ::testing::Test
{
protected:
  static void
  SetUpTestSuite()
  {
    if (!s_suite.start("needs root to install packages into a guest root with dpkg", {"dpkg-deb", "dpkg"},
                       "dpkg and dpkg-deb are not available", "/tmp/pkgunify-dpkgdb.XXXXXX")) {
      return;
    }
    s_arch = run({"dpkg", "--print-architecture"}).output;
    while (!s_arch.empty() && (s_arch.back() == '\n' || s_arch.back() == ' ')) {
      s_arch.pop_back();
    }
    s_suite.error = build_and_install();
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
  }

  static std::string
  admin()
  {
    return s_suite.dir + "/guest/var/lib/dpkg";
  }

  static std::string
  guest(const std::string& path)
  {
    return s_suite.dir + "/guest" + path;
  }

  // md5sum of a file in the guest, via coreutils.
  static std::string
  md5_of(const std::string& path)
  {
    const RunResult r = run({"md5sum", guest(path)});
    return r.status == 0 ? r.output.substr(0, 32) : "md5sum failed: " + r.output;
  }

  static std::string
  build(const std::string& name, const std::string& control, const std::map<std::string, std::string>& files,
        const std::string& conffiles, const std::string& md5sums = {})
  {
    const std::string root = s_suite.dir + "/build/" + name;
    write_file(root + "/DEBIAN/control", control);
    if (!conffiles.empty()) {
      write_file(root + "/DEBIAN/conffiles", conffiles);
    }
    if (!md5sums.empty()) {
      write_file(root + "/DEBIAN/md5sums", md5sums);
    }
    for (const auto& [path, content] : files) {
      write_file(root + path, content, path.find("/bin/") != std::string::npos ? 0755 : 0644);
    }
    return root;
  }

  static std::string
  dpkg_deb(const std::string& root, const std::string& deb)
  {
    const RunResult r = run({"dpkg-deb", "--root-owner-group", "--build", root, deb});
    return r.status == 0 ? std::string() : "dpkg-deb --build " + root + " failed: " + r.output;
  }

  // Installing into a guest root needs no --force option when the packages
  // ship no maintainer scripts: dpkg --root=GUEST chroots only to run
  // scripts, and the admin dir needs just info/, updates/, status and
  // available. --log=/dev/null keeps dpkg from writing GUEST/var/log.
  static std::string
  dpkg(const std::vector<std::string>& action)
  {
    std::vector<std::string> argv = {"dpkg", "--root=" + s_suite.dir + "/guest", "--log=/dev/null"};
    argv.insert(argv.end(), action.begin(), action.end());
    const RunResult r = run(argv);
    if (r.status == 0) {
      return {};
    }
    std::string cmd;
    for (const std::string& a : argv) {
      cmd += a + " ";
    }
    return cmd + "failed: " + r.output;
  }

  static std::string
  build_and_install()
  {
    fs::create_directories(admin() + "/info");
    fs::create_directories(admin() + "/updates");
    write_file(admin() + "/status", "");
    write_file(admin() + "/available", "");

    const std::string maint = "Maintainer: pkgunify tests <tests@example.org>\n";
    std::string lib_content;
    for (int i = 0; i < 4096; ++i) {
      lib_content += static_cast<char>((i * 7919) & 0xff);
    }
    const std::string bin_a = "#!/bin/sh\necho pkgunify-test-a\n";
    const std::string a = build("a",
                                "Package: pkgunify-test-a\nVersion: 1.2-3\nArchitecture: all\n" + maint
                                  + "Description: test package a\n long text\n",
                                {{"/etc/pkgunify-test-a/a.conf", "setting = 1\n"},
                                 {"/usr/lib/pkgunify-test-a/a.conf", "other = 2\n"},
                                 {"/usr/bin/pkgunify-test-a", bin_a},
                                 {"/usr/lib/libpkgunify-test-a.so.1", lib_content}},
                                "/etc/pkgunify-test-a/a.conf\n/usr/lib/pkgunify-test-a/a.conf\n");
    fs::create_symlink("pkgunify-test-a", a + "/usr/bin/pkgunify-test-a-link");
    {
      // debhelper style: md5sums of the non-conffiles only.
      const RunResult r = run({"sh", "-c",
                               "cd '" + a
                                 + "' && md5sum usr/bin/pkgunify-test-a usr/lib/libpkgunify-test-a.so.1 "
                                   "> DEBIAN/md5sums"});
      if (r.status != 0) {
        return "md5sum failed: " + r.output;
      }
    }
    const std::string b = build("b",
                                "Package: libpkgunify-test-b\nVersion: 2.0-1\nArchitecture: " + s_arch
                                  + "\nMulti-Arch: same\n" + maint + "Description: test library b\n",
                                {{"/usr/lib/pkgunify-test-" + s_arch + "/libpkgunify-test-b.so.2", "library b\n"},
                                 {"/etc/libpkgunify-test-b.conf", "b = 1\n"}},
                                "/etc/libpkgunify-test-b.conf\n");
    const std::string c = build(
      "c", "Package: pkgunify-test-c\nVersion: 0.1-1\nArchitecture: all\n" + maint + "Description: test package c\n",
      {{"/etc/pkgunify-test-c.conf", "c = 1\n"}, {"/usr/bin/pkgunify-test-c", "c\n"}}, "/etc/pkgunify-test-c.conf\n");
    const std::string d = build(
      "d", "Package: pkgunify-test-d\nVersion: 3.0\nArchitecture: all\n" + maint + "Description: test package d\n",
      {{"/etc/pkgunify-test-d.conf", "d = 1\n"}, {"/usr/bin/pkgunify-test-d", "d\n"}}, "/etc/pkgunify-test-d.conf\n");
    for (const std::string& root : {a, b, c, d}) {
      if (std::string err = dpkg_deb(root, root + ".deb"); !err.empty()) {
        return err;
      }
    }
    for (const std::vector<std::string>& action : std::vector<std::vector<std::string>>{
           {"-i", a + ".deb", b + ".deb", d + ".deb"},
           {"--unpack", c + ".deb"},
           {"-r", "pkgunify-test-d"},
         }) {
      if (std::string err = dpkg(action); !err.empty()) {
        return err;
      }
    }
    return {};
  }

  static PackageSuite s_suite;
  static std::string s_arch;
};

PackageSuite DpkgDbGuest::s_suite;
std::string DpkgDbGuest::s_arch;

TEST_F(DpkgDbGuest, InstalledPackages)
{
  const auto pkgs = make_dpkg_db(admin())->packages();
  // Status order (dpkg sorts by name); d is only config-files now.
  EXPECT_EQ(names_of(pkgs),
            (std::vector<std::string>{"libpkgunify-test-b:" + s_arch, "pkgunify-test-a", "pkgunify-test-c"}));
  const PackageInfo* a = find_package(pkgs, "pkgunify-test-a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->version, "1.2-3");
  EXPECT_EQ(a->arch, "all");
  const PackageInfo* b = find_package(pkgs, "libpkgunify-test-b:" + s_arch);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->version, "2.0-1");
  EXPECT_EQ(b->arch, s_arch);
}

TEST_F(DpkgDbGuest, FilesConffilesAndDigests)
{
  const auto pkgs = make_dpkg_db(admin())->packages();
  const PackageInfo* a = find_package(pkgs, "pkgunify-test-a");
  ASSERT_NE(a, nullptr);
  std::vector<std::string> paths;
  for (const PackageFile& f : a->files) {
    paths.push_back(f.path);
  }
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"/etc", "/etc/pkgunify-test-a", "/etc/pkgunify-test-a/a.conf", "/usr",
                                             "/usr/bin", "/usr/bin/pkgunify-test-a", "/usr/bin/pkgunify-test-a-link",
                                             "/usr/lib", "/usr/lib/libpkgunify-test-a.so.1", "/usr/lib/pkgunify-test-a",
                                             "/usr/lib/pkgunify-test-a/a.conf"}));
  for (const PackageFile& f : a->files) {
    const bool conffile = f.path == "/etc/pkgunify-test-a/a.conf" || f.path == "/usr/lib/pkgunify-test-a/a.conf";
    EXPECT_EQ(f.config, conffile) << f.path;
    struct stat st = {};
    ASSERT_EQ(::lstat(guest(f.path).c_str(), &st), 0) << f.path;
    if (S_ISREG(st.st_mode)) {
      EXPECT_EQ(f.digest_algo, DigestAlgo::md5) << f.path;
      EXPECT_EQ(f.digest, md5_of(f.path)) << f.path;
    } else {
      EXPECT_EQ(f.digest_algo, DigestAlgo::none) << f.path;
      EXPECT_EQ(f.digest, "") << f.path;
    }
  }
}

TEST_F(DpkgDbGuest, MultiArchSamePackage)
{
  std::vector<std::string> missing;
  auto db = make_dpkg_db(admin());
  const auto pkgs = db->packages({"libpkgunify-test-b"}, missing);
  EXPECT_TRUE(missing.empty());
  ASSERT_EQ(pkgs.size(), 1u);
  EXPECT_EQ(pkgs[0].name, "libpkgunify-test-b:" + s_arch);
  EXPECT_TRUE(fs::exists(admin() + "/info/libpkgunify-test-b:" + s_arch + ".list"));
  const std::string lib = "/usr/lib/pkgunify-test-" + s_arch + "/libpkgunify-test-b.so.2";
  const PackageFile* f = find_file(pkgs[0], lib);
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->config);
  EXPECT_EQ(f->digest, md5_of(lib));
  const PackageFile* conf = find_file(pkgs[0], "/etc/libpkgunify-test-b.conf");
  ASSERT_NE(conf, nullptr);
  EXPECT_TRUE(conf->config);
  EXPECT_EQ(conf->digest, md5_of("/etc/libpkgunify-test-b.conf"));

  const auto qualified = db->packages({"libpkgunify-test-b:" + s_arch}, missing);
  ASSERT_EQ(qualified.size(), 1u);
  EXPECT_TRUE(missing.empty());
}

TEST_F(DpkgDbGuest, UnpackedPackageWithNewConffile)
{
  ASSERT_NE(read_file(admin() + "/status").find(" /etc/pkgunify-test-c.conf newconffile"), std::string::npos);
  const auto pkgs = make_dpkg_db(admin())->packages();
  const PackageInfo* c = find_package(pkgs, "pkgunify-test-c");
  ASSERT_NE(c, nullptr);
  const PackageFile* conf = find_file(*c, "/etc/pkgunify-test-c.conf");
  ASSERT_NE(conf, nullptr);
  EXPECT_TRUE(conf->config);
  // No hash in the status yet: the one dpkg computed into md5sums. Until
  // the package is configured the new conffile sits beside its final name.
  EXPECT_FALSE(fs::exists(guest("/etc/pkgunify-test-c.conf")));
  EXPECT_EQ(conf->digest, md5_of("/etc/pkgunify-test-c.conf.dpkg-new"));
}

TEST_F(DpkgDbGuest, PackagesByName)
{
  std::vector<std::string> missing;
  const auto pkgs = make_dpkg_db(admin())->packages({"pkgunify-test-a", "nope", "pkgunify-test-d"}, missing);
  EXPECT_EQ(names_of(pkgs), (std::vector<std::string>{"pkgunify-test-a"}));
  EXPECT_EQ(missing, (std::vector<std::string>{"nope", "pkgunify-test-d"}));
}

// A copy of the guest's admin dir to break.
class DpkgDbGuestCopy : public DpkgDbGuest
{
protected:
  void
  SetUp() override
  {
    DpkgDbGuest::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    char tmpl[] = "/tmp/pkgunify-dpkgdb-copy.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_copy = tmpl;
    fs::copy(admin(), m_copy + "/dpkg", fs::copy_options::recursive);
  }

  void
  TearDown() override
  {
    if (!m_copy.empty()) {
      std::error_code ec;
      fs::remove_all(m_copy, ec);
    }
  }

  std::string m_copy;
};

TEST_F(DpkgDbGuestCopy, CorruptStatusNamesTheLine)
{
  const std::string st = m_copy + "/dpkg/status";
  std::string text = read_file(st);
  // A garbage line right after the Version line of pkgunify-test-a.
  const auto stanza = text.find("Package: pkgunify-test-a\n");
  ASSERT_NE(stanza, std::string::npos);
  const auto version = text.find("\nVersion:", stanza);
  ASSERT_NE(version, std::string::npos);
  const auto eol = text.find('\n', version + 1);
  text.insert(eol + 1, "this line has no colon\n");
  const auto line = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(eol) + 1, '\n') + 1;
  write_file(st, text);
  EXPECT_EQ(db_error([&] { make_dpkg_db(m_copy + "/dpkg"); }),
            st + ":" + std::to_string(line) + ": malformed line, expected \"Field: value\"");
}

TEST_F(DpkgDbGuestCopy, MissingListNamesIt)
{
  fs::remove(m_copy + "/dpkg/info/pkgunify-test-a.list");
  auto db = make_dpkg_db(m_copy + "/dpkg");
  const std::string msg = db_error([&] { db->packages(); });
  EXPECT_EQ(msg.rfind(m_copy + "/dpkg/info/pkgunify-test-a.list: ", 0), 0u) << msg;
  std::vector<std::string> missing;
  EXPECT_EQ(db->packages({"pkgunify-test-c"}, missing).size(), 1u);
}

TEST_F(DpkgDbGuestCopy, MissingStatusNamesIt)
{
  fs::remove(m_copy + "/dpkg/status");
  EXPECT_EQ(db_error([&] { make_dpkg_db(m_copy + "/dpkg"); }),
            m_copy + "/dpkg/status: cannot read dpkg status: No such file or directory");
}

}  // namespace

// While dpkg runs, its changes live in updates/NNNN on top of status; hooks
// and triggers run before dpkg folds them in.
TEST_F(DpkgDbSynthetic, AppliesTheJournalInOrder)
{
  two_packages();
  info("c.list", "/.\n/usr/bin/c\n");
  fs::create_directories(admin + "/updates");
  write_file(admin + "/updates/0000", "Package: c\nStatus: install ok unpacked\nArchitecture: all\nVersion: 1\n\n");
  write_file(admin + "/updates/0001", "Package: a\nStatus: deinstall ok config-files\nArchitecture: all\n"
                                      "Version: 1.0-1\n\n");
  write_file(admin + "/updates/0002", "Package: c\nStatus: install ok installed\nArchitecture: all\nVersion: 2\n\n");
  write_file(admin + "/updates/tmp.i", "garbage that dpkg is still writing");
  auto db = make_dpkg_db(admin);
  const auto pkgs = db->packages();
  ASSERT_EQ(names_of(pkgs), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(pkgs[1].version, "2");
  const auto stamps = db->stamps();
  ASSERT_EQ(stamps.size(), 2u);
  EXPECT_EQ(stamps[1].name, "c");
  EXPECT_NE(stamps[1].fingerprint.find("2 all"), std::string::npos) << stamps[1].fingerprint;
}

TEST_F(DpkgDbSynthetic, ChangeMarkerFollowsStatusAndJournal)
{
  two_packages();
  auto db = make_dpkg_db(admin);
  const std::string m1 = db->change_marker();
  EXPECT_EQ(db->change_marker(), m1);
  fs::create_directories(admin + "/updates");
  write_file(admin + "/updates/0000", "Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 9\n\n");
  const std::string m2 = db->change_marker();
  EXPECT_NE(m2, m1);
  fs::remove(admin + "/updates/0000");
  status("Package: a\nStatus: install ok installed\nArchitecture: all\nVersion: 9\n\n");
  EXPECT_NE(db->change_marker(), m2);
}
