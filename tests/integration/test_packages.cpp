// SPDX-License-Identifier: GPL-2.0-or-later
// Package databases end to end: packages built with rpmbuild and dpkg-deb,
// installed into guest roots with `rpm --root` and `dpkg --root`, unified by
// the real pkgunify binary. Config files (in /etc and elsewhere) must never
// be linked; `rpm -V` and `dpkg --verify` must stay clean.
#include "harness.hpp"
#include "pkgbuild.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace pkgunify::itest {

namespace {

PkgSpec
tools_package(const std::string& version = "1.0")
{
  PkgSpec p;
  p.name = "pkgu-tools";
  p.version = version;
  p.files = {
    {"/usr/bin/pkgu-tool", std::string(20000, 't') + version, 0755, false},
    {"/usr/lib/pkgu/libpkgu.so.1", std::string(30000, 'l') + version, 0644, false},
    {"/usr/share/pkgu/data.txt", std::string(4000, 'd'), 0644, false},
    {"/etc/pkgu/pkgu.conf", "setting = etc\n" + std::string(100, '#'), 0644, true},
    {"/usr/lib/pkgu/defaults.conf", "setting = usr-lib\n" + std::string(100, '#'), 0644, true},
  };
  return p;
}

PkgSpec
extra_package()
{
  PkgSpec p;
  p.name = "pkgu-extra";
  p.files = {{"/usr/bin/pkgu-extra", std::string(10000, 'x'), 0755, false}};
  return p;
}

const std::vector<std::string> k_config_paths = {"/etc/pkgu/pkgu.conf", "/usr/lib/pkgu/defaults.conf"};
const std::vector<std::string> k_shared_paths = {"/usr/bin/pkgu-tool", "/usr/lib/pkgu/libpkgu.so.1",
                                                 "/usr/share/pkgu/data.txt"};

class PackagesTest : public IntegrationTest
{
protected:
  // Empty string when the test can run, else why not.
  std::string
  need(std::initializer_list<const char*> tools)
  {
    if (!is_root()) {
      return "installing packages into guest roots needs root";
    }
    return missing_tool(tools);
  }

  std::vector<std::string>
  rpm_guests(std::size_t n, const std::vector<PkgSpec>& pkgs)
  {
    std::string files;
    for (const auto& p : pkgs) {
      files += " " + build_rpm(p, tmp());
    }
    std::vector<std::string> roots;
    for (std::size_t i = 1; i <= n; ++i) {
      roots.push_back(path("rpm-g" + std::to_string(i)));
      rpm_init_root(roots.back());
      const ShellResult r = rpm_in(roots.back(), "-i --nodeps" + files);
      EXPECT_EQ(r.status, 0) << r.output;
    }
    return roots;
  }

  std::vector<std::string>
  dpkg_guests(std::size_t n, const std::vector<PkgSpec>& pkgs, bool usrmerge = false)
  {
    std::string files;
    for (const auto& p : pkgs) {
      files += " " + build_deb(p, tmp());
    }
    std::vector<std::string> roots;
    for (std::size_t i = 1; i <= n; ++i) {
      roots.push_back(path("deb-g" + std::to_string(i)));
      dpkg_init_root(roots.back());
      if (usrmerge) {
        make_dirs(roots.back() + "/usr/bin");
        make_symlink("usr/bin", roots.back() + "/bin");
      }
      const ShellResult r = dpkg_in(roots.back(), "-i" + files);
      EXPECT_EQ(r.status, 0) << r.output;
    }
    return roots;
  }

  void
  expect_config_private_and_rest_shared(const std::vector<std::string>& roots)
  {
    for (const auto& c : k_config_paths) {
      for (const auto& r : roots) {
        EXPECT_EQ(stat_path(r + c).nlink, 1u) << r + c << " must stay private";
        EXPECT_FALSE(object_with_inode(store(), stat_path(r + c).ino).has_value()) << r + c;
      }
    }
    for (const auto& f : k_shared_paths) {
      const auto first = stat_path(roots[0] + f);
      EXPECT_TRUE(object_with_inode(store(), first.ino).has_value()) << roots[0] + f;
      for (const auto& r : roots) {
        EXPECT_EQ(stat_path(r + f).ino, first.ino) << r + f;
      }
    }
  }
};

}  // namespace

TEST_F(PackagesTest, RpmGuestsNeverLinkConfigFilesAndStayVerified)
{
  if (auto why = need({"rpmbuild", "rpm"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const auto roots = rpm_guests(2, {tools_package(), extra_package()});
  const Json j = scan_ok(roots);
  // /etc is never walked; the config file outside it is skipped in each guest.
  EXPECT_EQ(skipped(j, "config"), 2);
  EXPECT_EQ(counter(j, "errors"), 0);
  expect_config_private_and_rest_shared(roots);
  for (const auto& r : roots) {
    const ShellResult v = rpm_in(r, "-V pkgu-tools pkgu-extra");
    EXPECT_EQ(v.status, 0) << r << ":\n" << v.output;
  }
}

TEST_F(PackagesTest, DpkgGuestsNeverLinkConffilesAndStayVerified)
{
  if (auto why = need({"dpkg-deb", "dpkg"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const auto roots = dpkg_guests(2, {tools_package(), extra_package()});
  const Json j = scan_ok(roots);
  EXPECT_EQ(skipped(j, "config"), 2);  // /etc is never walked
  expect_config_private_and_rest_shared(roots);
  for (const auto& r : roots) {
    const ShellResult v = dpkg_in(r, "--verify");
    EXPECT_EQ(v.status, 0) << r << ":\n" << v.output;
    EXPECT_EQ(v.output, "") << r;
  }
}

TEST_F(PackagesTest, ConffileBehindAUsrmergeSymlinkStaysPrivate)
{
  if (auto why = need({"dpkg-deb", "dpkg"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  PkgSpec legacy;
  legacy.name = "pkgu-legacy";
  legacy.files = {{"/bin/pkgu-legacy.conf", "legacy = 1\n" + std::string(64, '#'), 0644, true},
                  {"/bin/pkgu-legacy", std::string(5000, 'b'), 0755, false}};
  const auto roots = dpkg_guests(2, {legacy}, true);
  // dpkg lists /bin/..., the files live in /usr/bin: the walk sees those.
  ASSERT_TRUE(exists(roots[0] + "/usr/bin/pkgu-legacy.conf"));
  scan_ok(roots);
  EXPECT_EQ(stat_path(roots[0] + "/usr/bin/pkgu-legacy.conf").nlink, 1u);
  EXPECT_EQ(stat_path(roots[0] + "/usr/bin/pkgu-legacy").ino, stat_path(roots[1] + "/usr/bin/pkgu-legacy").ino);
}

TEST_F(PackagesTest, PkgUnifiesExactlyTheNamedPackages)
{
  if (auto why = need({"dpkg-deb", "dpkg", "rpmbuild", "rpm"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  for (const auto& roots :
       {dpkg_guests(2, {tools_package(), extra_package()}), rpm_guests(2, {tools_package(), extra_package()})}) {
    for (const auto& r : roots) {
      const RunResult res = run_pkgunify({"pkg", "--json", "--store", store(), "--root", r, "pkgu-extra"});
      ASSERT_EQ(res.exit_code, 0) << res.describe();
      EXPECT_EQ(res.json()["packages"], Json::array({"pkgu-extra"}));
    }
    EXPECT_EQ(stat_path(roots[0] + "/usr/bin/pkgu-extra").ino, stat_path(roots[1] + "/usr/bin/pkgu-extra").ino);
    for (const auto& f : k_shared_paths) {
      EXPECT_EQ(stat_path(roots[0] + f).nlink, 1u) << "pkgu-tools was not named: " << f;
    }
    // Naming a config-owning package still never links its config files.
    const RunResult res = run_pkgunify({"pkg", "--json", "--store", store(), "--root", roots[0], "pkgu-tools"});
    ASSERT_EQ(res.exit_code, 0) << res.describe();
    EXPECT_EQ(skipped(res.json(), "config"), 2);
    for (const auto& c : k_config_paths) {
      EXPECT_EQ(stat_path(roots[0] + c).nlink, 1u);
    }
    // An unknown package is reported (exit 1) and nothing else fails.
    const RunResult missing = run_pkgunify({"pkg", "--json", "--store", store(), "--root", roots[1], "no-such-pkg"});
    EXPECT_EQ(missing.exit_code, 1) << missing.describe();
    EXPECT_EQ(missing.json()["missing"], Json::array({"no-such-pkg"}));
    EXPECT_NE(missing.err.find("no-such-pkg is not installed"), std::string::npos);
  }
}

TEST_F(PackagesTest, ListExplainsEachFile)
{
  if (auto why = need({"rpmbuild", "rpm"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const auto roots = rpm_guests(1, {tools_package()});
  const RunResult r = run_pkgunify({"list", "--json", "--root", roots[0]});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json j = r.json();
  EXPECT_EQ(j["package_db"], "rpm");
  std::map<std::string, Json> by_path;
  for (const auto& f : j["files"]) {
    by_path[f["path"].get<std::string>()] = f;
  }
  for (const auto& c : k_config_paths) {
    ASSERT_TRUE(by_path.contains(c)) << c;
    EXPECT_EQ(by_path[c]["config"], true);
    EXPECT_EQ(by_path[c]["candidate"], false);
    EXPECT_NE(by_path[c]["reason"].get<std::string>().find("configuration file"), std::string::npos);
  }
  for (const auto& f : k_shared_paths) {
    EXPECT_EQ(by_path[f]["candidate"], true) << f;
    EXPECT_EQ(by_path[f]["reason"], "candidate");
    EXPECT_EQ(by_path[f]["package"], "pkgu-tools");
  }
  EXPECT_EQ(j["candidates"], 3);
  EXPECT_EQ(j["config_files"], 2);
}

TEST_F(PackagesTest, InspectReadsRpmAndDebFilesWithoutInstalling)
{
  if (auto why = need({"rpmbuild", "dpkg-deb"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  PkgSpec p = tools_package();
  p.files.push_back({"/var/lib/pkgu/state", std::string(500, 's'), 0644, false});
  p.files.push_back({"/usr/share/pkgu/tiny", "x", 0644, false});
  for (const auto& file : {build_rpm(p, tmp()), build_deb(p, tmp())}) {
    const RunResult r = run_pkgunify({"inspect", "--json", file});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const Json pkg = r.json()["packages"][0];
    EXPECT_EQ(pkg["name"], "pkgu-tools");
    std::map<std::string, Json> by_path;
    for (const auto& f : pkg["files"]) {
      by_path[f["path"].get<std::string>()] = f;
    }
    for (const auto& c : k_config_paths) {
      EXPECT_EQ(by_path[c]["config"], true) << file << " " << c;
      EXPECT_EQ(by_path[c]["unified"], false);
    }
    for (const auto& f : k_shared_paths) {
      EXPECT_EQ(by_path[f]["unified"], true) << file << " " << f;
    }
    EXPECT_EQ(by_path["/var/lib/pkgu/state"]["unified"], false);
    EXPECT_EQ(by_path["/var/lib/pkgu/state"]["reason"], "excluded by '/var/**'");
    EXPECT_EQ(by_path["/usr/share/pkgu/tiny"]["unified"], false);
    EXPECT_EQ(pkg["unified_files"], 3);
  }
  write_text(path("broken.rpm"), "not an rpm at all");
  const RunResult bad = run_pkgunify({"inspect", path("broken.rpm")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find(path("broken.rpm")), std::string::npos) << bad.err;
}

TEST_F(PackagesTest, VerifyCatchesACorruptedObject)
{
  if (auto why = need({"dpkg-deb", "dpkg", "rpmbuild", "rpm"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  auto roots = dpkg_guests(2, {tools_package()});
  const auto rpm_roots = rpm_guests(1, {tools_package()});
  roots.insert(roots.end(), rpm_roots.begin(), rpm_roots.end());
  scan_ok(roots);
  const RunResult clean = run_pkgunify({"verify", "--json", "--store", store(), roots[0], roots[2]});
  ASSERT_EQ(clean.exit_code, 0) << clean.describe();
  EXPECT_EQ(clean.json()["roots"][0]["checked"], 3);
  EXPECT_EQ(clean.json()["roots"][0]["mismatches"], 0);
  EXPECT_EQ(clean.json()["roots"][1]["package_db"], "rpm");

  // Damage the shared object of the library in place (same size).
  const std::string lib = roots[0] + "/usr/lib/pkgu/libpkgu.so.1";
  const auto object = object_with_inode(store(), stat_path(lib).ino);
  ASSERT_TRUE(object.has_value());
  std::system(("chattr -i " + object->path + " 2>/dev/null").c_str());
  const int fd = ::open(object->path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "CORRUPT", 7, 100), 7);
  ::close(fd);

  const RunResult r = run_pkgunify({"verify", "--json", "--store", store(), roots[0], roots[1], roots[2]});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.json()["roots"][i]["mismatches"], 1) << roots[i];
  }
  EXPECT_NE(r.err.find(lib), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(object->path), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("package pkgu-tools"), std::string::npos) << r.err;
}

// Issue #15, item 4: a FIFO a guest puts at a path its package database
// lists (with a digest) hung `verify` in open(); it is never opened now.
TEST_F(PackagesTest, VerifyAndStatusNeverOpenAFifoAtAPackagedPath)
{
  if (auto why = need({"dpkg-deb", "dpkg"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const auto roots = dpkg_guests(2, {tools_package()});
  scan_ok(roots);
  const std::string data = roots[0] + "/usr/share/pkgu/data.txt";
  ASSERT_EQ(run_pkgunify({"release", data}).exit_code, 0);  // as a guest's package manager would
  ASSERT_EQ(::unlink(data.c_str()), 0);
  ASSERT_EQ(::mkfifo(data.c_str(), 0644), 0);
  const RunResult v = run_pkgunify({"verify", "--json", "--store", store(), roots[0]}, 30);
  EXPECT_FALSE(v.timed_out) << v.describe();
  EXPECT_NE(v.exit_code, 2) << v.describe();
  const RunResult st = run_pkgunify({"status", "--json", "--store", store(), roots[0]}, 30);
  EXPECT_FALSE(st.timed_out) << st.describe();
  EXPECT_EQ(st.exit_code, 0) << st.describe();
}

TEST_F(PackagesTest, CorruptDpkgStatusIsAClearErrorAndChangesNothing)
{
  if (auto why = need({"dpkg-deb", "dpkg"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const auto roots = dpkg_guests(2, {tools_package()});
  const std::string status = roots[1] + "/var/lib/dpkg/status";
  std::string text = read_file(status);
  const auto lines_before = std::count(text.begin(), text.end(), '\n');
  text += "\nPackage: broken\nthis line has no colon\n";
  write_text(status, text);
  const Snapshot before = snapshot(tmp());
  const RunResult r = scan(roots);
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  // The bad stanza starts on line L+2; its bad line is L+3.
  const bool names_line = r.err.find(status + ":" + std::to_string(lines_before + 2) + ":") != std::string::npos
                          || r.err.find(status + ":" + std::to_string(lines_before + 3) + ":") != std::string::npos;
  EXPECT_TRUE(names_line) << r.err;
  EXPECT_EQ(join_lines(diff_snapshots(before, snapshot(tmp()))), "");
  EXPECT_FALSE(exists(store()));
  const RunResult p = run_pkgunify({"pkg", "--store", store(), "--root", roots[1], "pkgu-tools"});
  EXPECT_EQ(p.exit_code, 2) << p.describe();
  EXPECT_EQ(join_lines(diff_snapshots(before, snapshot(tmp()))), "");
}

TEST_F(PackagesTest, MissingOrDamagedRpmdbIsAClearErrorAndNothingIsCreated)
{
  if (auto why = need({"rpmbuild", "rpm"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  // A root with an (empty) rpm database directory but no database in it.
  const std::string g = path("nodb");
  make_dirs(g + "/var/lib/rpm");
  write_file(g + "/usr/bin/tool", sized_spec(100));
  const Snapshot before = snapshot(g);
  const RunResult r = scan({g}, {"--db", "rpm"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("no rpm database in " + g), std::string::npos) << r.err;
  const RunResult p = run_pkgunify({"pkg", "--store", store(), "--root", g, "anything"});
  EXPECT_EQ(p.exit_code, 2) << p.describe();
  EXPECT_NE(p.err.find("no package database in " + g), std::string::npos) << p.err;
  EXPECT_EQ(join_lines(diff_snapshots(before, snapshot(g))), "");  // librpm created no database

  // A damaged database file.
  const auto roots = rpm_guests(1, {tools_package()});
  const std::string db = roots[0] + "/root/.rpmdb/rpmdb.sqlite";
  ASSERT_TRUE(exists(db));
  for (const char* side : {"-wal", "-shm"}) {
    std::remove((db + side).c_str());
  }
  write_text(db, std::string(8192, 'Z'));
  const Snapshot before2 = snapshot(roots[0]);
  const RunResult c = scan(roots);
  EXPECT_EQ(c.exit_code, 2) << c.describe();
  EXPECT_NE(c.err.find(roots[0] + "/root/.rpmdb"), std::string::npos) << c.err;
  EXPECT_EQ(join_lines(diff_snapshots(before2, snapshot(roots[0]))), "");
}

TEST_F(PackagesTest, OnlyPackagedLeavesUnpackagedFilesAlone)
{
  if (auto why = need({"dpkg-deb", "dpkg"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const auto roots = dpkg_guests(2, {tools_package()});
  write_in_roots(roots, "/usr/local/bin/handmade", sized_spec(3000, "hand"));
  write_text(path("only.yaml"), "only_packaged: true\n");
  const Json j = scan_ok(roots, {"--policy", path("only.yaml")});
  EXPECT_EQ(skipped(j, "unpackaged"), 2);
  EXPECT_EQ(stat_path(roots[0] + "/usr/local/bin/handmade").nlink, 1u);
  EXPECT_EQ(stat_path(roots[0] + "/usr/bin/pkgu-tool").ino, stat_path(roots[1] + "/usr/bin/pkgu-tool").ino);
  // Without the key they are unified like any file.
  scan_ok(roots);
  EXPECT_EQ(stat_path(roots[0] + "/usr/local/bin/handmade").ino, stat_path(roots[1] + "/usr/local/bin/handmade").ino);
}

// Status counts candidates by the scan's rule (engine/candidate.cpp), the
// root's package database included: a config file outside /etc is no
// candidate for either, and neither is an empty file with min_size: 0.
TEST_F(PackagesTest, StatusCountsTheCandidatesTheScanCounts)
{
  if (auto why = need({"dpkg-deb", "dpkg"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const auto roots = dpkg_guests(2, {tools_package(), extra_package()});
  for (const auto& r : roots) {
    write_file(r + "/usr/share/pkgu/empty", FileSpec());
  }
  FileSpec policy;
  policy.content = "min_size: 0\n";
  write_file(path("policy.yaml"), policy);
  const Json scan = scan_ok(roots, {"--policy", path("policy.yaml")});
  const RunResult st =
    run_pkgunify({"status", "--json", "--policy", path("policy.yaml"), "--store", store(), roots[0], roots[1]});
  ASSERT_EQ(st.exit_code, 0) << st.describe();
  const Json status = st.json();
  std::int64_t status_candidates = 0;
  ASSERT_EQ(status["roots"].size(), 2u) << st.describe();
  for (const auto& r : status["roots"]) {
    status_candidates += r["candidates"].get<std::int64_t>();
    EXPECT_EQ(r["unified_files"], r["candidates"]) << r.dump();
  }
  EXPECT_EQ(status_candidates, counter(scan, "candidates")) << st.describe();
  EXPECT_EQ(skipped(scan, "config"), 2);
  EXPECT_EQ(skipped(scan, "empty"), 2);
}

}  // namespace pkgunify::itest
