// dpkg database reader: synthetic admin dirs for the corner cases, and a
// guest root with real packages built by dpkg-deb and installed by
// `dpkg --root` for the real thing.
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

const PackageFile*
find_file(const PackageInfo& pkg, const std::string& path)
{
  auto it = std::find_if(pkg.files.begin(), pkg.files.end(), [&](const PackageFile& f) { return f.path == path; });
  return it == pkg.files.end() ? nullptr : &*it;
}

std::vector<std::string>
names_of(const std::vector<PackageInfo>& pkgs)
{
  std::vector<std::string> out;
  for (const PackageInfo& p : pkgs) {
    out.push_back(p.name);
  }
  return out;
}

const std::string md5_a = "0123456789abcdef0123456789abcdef";
const std::string md5_b = "fedcba9876543210fedcba9876543210";

// ---- synthetic admin dirs --------------------------------------------------

class DpkgDbSynthetic : public pkgunify::test::TempDirTest
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

TEST_F(DpkgDbSynthetic, KindAndLocation)
{
  two_packages();
  auto db = make_dpkg_db(admin);
  EXPECT_EQ(db->kind(), "dpkg");
  EXPECT_EQ(db->location(), admin);
  EXPECT_EQ(make_dpkg_db(admin + "/")->location(), admin);
}

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

TEST_F(DpkgDbSynthetic, EmptyStatusHasNoPackages)
{
  status("");
  EXPECT_TRUE(make_dpkg_db(admin)->packages().empty());
}

TEST_F(DpkgDbSynthetic, SkipsConfigFilesAndNotInstalled)
{
  status("Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
         "Conffiles:\n /etc/gone.conf "
         + md5_a
         + "\n\n"
           "Package: never\nStatus: purge ok not-installed\n\n"
           "Package: half\nStatus: install reinstreq half-installed\nVersion: 2\n\n"
           "Package: trig\nStatus: install ok triggers-pending\nVersion: 3\n");
  info("half.list", "/.\n/usr\n");
  info("trig.list", "/.\n/usr\n");
  const auto pkgs = make_dpkg_db(admin)->packages();
  EXPECT_EQ(names_of(pkgs), (std::vector<std::string>{"half", "trig"}));
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

// ---- corrupt status files ----------------------------------------------------

TEST_F(DpkgDbSynthetic, GarbageLineReportsItsLine)
{
  status("Package: a\n"                    // 1
         "Status: install ok installed\n"  // 2
         "Version: 1\n"                    // 3
         "\n"                              // 4
         "Package: b\n"                    // 5
         "Status: install ok installed\n"  // 6
         "garbage without colon\n"         // 7
         "Version: 2\n");                  // 8
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:7: malformed line, expected \"Field: value\"");
}

TEST_F(DpkgDbSynthetic, GarbageAtTheEndReportsTheStanza)
{
  // No colon follows the garbage: libapt-pkg's pkgTagFile::Step fails, and
  // the line of the stanza is reported.
  status("Package: a\n"                    // 1
         "Status: install ok installed\n"  // 2
         "\n"                              // 3
         "\n"                              // 4
         "Package: b\n"                    // 5
         "Status: install ok installed\n"  // 6
         "Version: 2\n"                    // 7
         "garbage\n");                     // 8
  const std::string msg = db_error([&] { make_dpkg_db(admin); });
  EXPECT_EQ(msg.rfind(admin + "/status:5: ", 0), 0u) << msg;
}

TEST_F(DpkgDbSynthetic, ConffilesLineWithoutHash)
{
  status("Package: a\nStatus: install ok installed\nVersion: 1\n\n"
         "Package: b\n"                    // 5
         "Status: install ok installed\n"  // 6
         "Conffiles:\n"                    // 7
         " /etc/b.conf "
         + md5_a
         + "\n"               // 8
           " /etc/b2.conf\n"  // 9
           "Version: 2\n");
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }),
            admin + "/status:9: malformed Conffiles line, expected \" /path <md5>\"");
}

TEST_F(DpkgDbSynthetic, ConffilesOnTheFieldLineAndBadHash)
{
  status("Package: b\n"                    // 1
         "Status: install ok installed\n"  // 2
         "Conffiles: /etc/b.conf "
         + md5_a
         + " obsolete\n"             // 3
           " /etc/c.conf 12345\n");  // 4
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:4: malformed Conffiles line, bad hash '12345'");
}

TEST_F(DpkgDbSynthetic, StanzaWithoutPackageOrStatus)
{
  status("Package: a\nStatus: install ok installed\n\n\n\n"
         "Version: 1\n"  // 6
         "Status: install ok installed\n");
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:6: stanza without Package field");
  status("\nPackage: a\nStatus: install ok installed\n\n"
         "Package: b\n"  // 5
         "Version: 1\n");
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:5: package 'b' has no Status field");
  status("Package: a\nStatus: install ok\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }).find("status:1: package 'a': malformed Status"), std::string::npos);
  status("Package: a\nStatus: install ok floating\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }).find("status:1: package 'a': unknown state 'floating'"),
            std::string::npos);
  status("Package: ../../etc/x\nStatus: install ok installed\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }).find("status:1: invalid package name"), std::string::npos);
}

TEST_F(DpkgDbSynthetic, AptErrorStackIsLeftAsFound)
{
  _error->Error("pkgunify-test: the caller's own error");
  status("Package: a\nStatus: install ok installed\n\nPackage: b\ngarbage\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }), "(no error)");
  two_packages();
  EXPECT_EQ(make_dpkg_db(admin)->packages().size(), 2u);
  ASSERT_TRUE(_error->PendingError());
  std::string text;
  EXPECT_TRUE(_error->PopMessage(text));
  EXPECT_EQ(text, "pkgunify-test: the caller's own error");
  EXPECT_TRUE(_error->empty(GlobalError::DEBUG));
}

TEST_F(DpkgDbSynthetic, ReadsAHundredThousandPathsFast)
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
  // Typically ~0.1 s (optimised build); generous for loaded machines and
  // sanitiser builds.
  EXPECT_LT(seconds, 2.0);
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
