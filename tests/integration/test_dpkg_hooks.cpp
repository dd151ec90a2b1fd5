// SPDX-License-Identifier: GPL-2.0-or-later
// The dpkg hooks in real dpkg runs: packages built with dpkg-deb, installed,
// upgraded, removed and purged with `dpkg --root=GUEST`, with the hook lines
// of dpkg-hook/pkgunify.dpkg.cfg.in given as --pre-invoke/--post-invoke (the
// same as a dpkg.cfg.d file, without touching the host's dpkg
// configuration). The guest's hook lines (pkgunify-guest) are tested in
// test_guest_client.cpp.
#include "harness.hpp"
#include "pkgbuild.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>

namespace pkgunify::itest {

namespace {

PkgSpec
app(const std::string& version)
{
  PkgSpec p;
  p.name = "pkgu-dapp";
  p.version = version;
  p.files = {
    {"/usr/bin/pkgu-dapp", std::string(30000, 'b') + version, 0755, false},
    {"/usr/lib/x86_64-linux-gnu/libpkgu-d.so.1", std::string(50000, 'l') + version, 0644, false},
    {"/usr/share/pkgu-dapp/same.dat", std::string(5000, 's'), 0644, false},
    {"/etc/pkgu-dapp.conf", "conf " + version + "\n", 0644, true},
    {"/usr/lib/pkgu-dapp/outside-etc.conf", "conf outside etc " + version + "\n", 0644, true},
  };
  return p;
}

class DpkgHookBase : public IntegrationTest
{
protected:
  // `fs`: empty for the test directory (ext4), else a loop-mounted
  // filesystem of that type holding guests and store.
  std::string
  setup(const std::string& mode, const std::string& fs = {})
  {
    if (!is_root()) {
      return "dpkg runs into guest roots need root";
    }
    if (auto why = missing_tool({"dpkg", "dpkg-deb"}); !why.empty()) {
      return why;
    }
    if (auto why = guest_top(fs, m_top); !why.empty()) {
      return why;
    }
    write_text(policy(), "store: " + fs_store() + "\nlink: " + mode + "\n");
    m_v1 = build_deb(app("1.0"), tmp());
    m_v2 = build_deb(app("2.0"), tmp());
    return {};
  }

  [[nodiscard]] std::string
  policy() const
  {
    return path("policy.yaml");
  }

  [[nodiscard]] std::string
  fs_store() const
  {
    return m_top + "/store";
  }

  std::string
  guest(const std::string& name)
  {
    const std::string g = m_top + "/" + name;
    dpkg_init_root(g);
    return g;
  }

  // The lines of dpkg-hook/pkgunify.dpkg.cfg.in, with the test's binary,
  // policy and state directory.
  [[nodiscard]] std::string
  hooks(const std::string& policy_file = {}) const
  {
    const std::string pol = policy_file.empty() ? policy() : policy_file;
    const std::string bin = PKGUNIFY_BINARY;
    return "'--pre-invoke=" + bin + " dpkg-release --hook --policy " + pol + " --log " + path("hook.log")
           + " || true' '--post-invoke=" + bin + " sync --hook --db dpkg --policy " + pol + " --state-dir "
           + path("state") + " --log " + path("hook.log") + " || true' ";
  }

  ShellResult
  dpkg_hooked(const std::string& root, const std::string& args, const std::string& policy_file = {})
  {
    return dpkg_in(root, hooks(policy_file) + args);
  }

  std::string m_top;
  std::string m_v1;
  std::string m_v2;
};

class DpkgHookTest
  : public DpkgHookBase
  , public ::testing::WithParamInterface<std::string>
{};

class DpkgHookModes
  : public DpkgHookBase
  , public ::testing::WithParamInterface<ModeParam>
{};

const char* const k_files[] = {"/usr/bin/pkgu-dapp", "/usr/lib/x86_64-linux-gnu/libpkgu-d.so.1",
                               "/usr/share/pkgu-dapp/same.dat"};
const char* const k_conffiles[] = {"/etc/pkgu-dapp.conf", "/usr/lib/pkgu-dapp/outside-etc.conf"};

}  // namespace

TEST_P(DpkgHookModes, InstallUpgradeRemovePurgeInTwoGuests)
{
  const auto& [mode, fs] = GetParam();
  if (auto why = setup(mode, fs); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g1 = guest("g1");
  const std::string g2 = guest("g2");
  auto check_shared = [&](const std::string& when) {
    for (const char* f : k_files) {
      if (mode == "reflink") {
        EXPECT_NE(stat_path(g1 + f).ino, stat_path(g2 + f).ino) << when << ": " << f;
        continue;
      }
      EXPECT_EQ(stat_path(g1 + f).ino, stat_path(g2 + f).ino) << when << ": " << f;
      EXPECT_TRUE(object_with_inode(fs_store(), stat_path(g1 + f).ino).has_value()) << when << ": " << f;
      EXPECT_EQ(has_immutable_flag(g1 + f), mode == "immutable") << when << ": " << f;
    }
    if (mode == "reflink") {
      const RunResult st = run_pkgunify({"status", "--json", "--store", fs_store(), g1});
      EXPECT_EQ(st.json()["roots"][0]["modes"]["reflink"], 3) << when;
    }
    for (const char* c : k_conffiles) {
      EXPECT_EQ(stat_path(g1 + c).nlink, 1u) << when << ": " << c;
      EXPECT_NE(stat_path(g1 + c).ino, stat_path(g2 + c).ino) << when << ": " << c;
    }
    for (const auto& g : {g1, g2}) {
      const ShellResult v = dpkg_in(g, "--verify");
      EXPECT_EQ(v.status, 0) << when << ": " << v.output;
      EXPECT_EQ(v.output, "") << when;
    }
  };

  for (const auto& g : {g1, g2}) {
    const ShellResult r = dpkg_hooked(g, "-i " + m_v1);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("pkgunify:"), std::string::npos) << r.output;
  }
  check_shared("install");

  // Running the sync again is harmless and reads nothing.
  const RunResult again =
    run_pkgunify({"sync", "--json", "--db", "dpkg", "--policy", policy(), "--state-dir", path("state"), "--root", g1});
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(again.json()["unchanged"], true);

  for (const auto& g : {g1, g2}) {
    const ShellResult r = dpkg_hooked(g, "-i " + m_v2);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("pkgunify:"), std::string::npos) << r.output;
  }
  EXPECT_EQ(read_file(g1 + "/usr/bin/pkgu-dapp"), std::string(30000, 'b') + "2.0");
  check_shared("upgrade");

  const ShellResult rm = dpkg_hooked(g1, "-r pkgu-dapp");
  ASSERT_EQ(rm.status, 0) << rm.output;
  EXPECT_FALSE(exists(g1 + "/usr/bin/pkgu-dapp"));
  EXPECT_TRUE(exists(g1 + "/etc/pkgu-dapp.conf"));  // conffiles stay until purge
  const ShellResult purge = dpkg_hooked(g1, "-P pkgu-dapp");
  ASSERT_EQ(purge.status, 0) << purge.output;
  EXPECT_FALSE(exists(g1 + "/etc/pkgu-dapp.conf"));
  EXPECT_EQ(read_file(g2 + "/usr/bin/pkgu-dapp"), std::string(30000, 'b') + "2.0");
  EXPECT_EQ(dpkg_in(g2, "--verify").status, 0);
  const ShellResult purge2 = dpkg_hooked(g2, "-P pkgu-dapp");
  ASSERT_EQ(purge2.status, 0) << purge2.output;
  ::sync();
  const RunResult gc = run_pkgunify({"store", "gc", "--json", "--store", fs_store()});
  ASSERT_EQ(gc.exit_code, 0) << gc.describe();
  EXPECT_EQ(gc.json()["kept"], 0);
}

INSTANTIATE_TEST_SUITE_P(LinkModes, DpkgHookModes,
                         ::testing::Values(ModeParam{"immutable", ""}, ModeParam{"hardlink", ""},
                                           ModeParam{"reflink", "btrfs"}, ModeParam{"reflink", "xfs"}),
                         mode_name);

INSTANTIATE_TEST_SUITE_P(LinkModes, DpkgHookTest, ::testing::Values("immutable", "hardlink"));

// A file that could not be unified (here: its directory was immutable, so it
// could not be replaced by a link) is tried again by the next sync, although dpkg
// changed nothing since.
TEST_P(DpkgHookTest, FilesThatFailedAreTriedAgainByTheNextSync)
{
  if (auto why = setup(GetParam()); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g1 = guest("g1");
  const std::string g2 = guest("g2");
  ASSERT_EQ(dpkg_hooked(g1, "-i " + m_v1).status, 0);
  // g2 unpacks without the hook; then its admin locks /usr/bin for a while.
  ASSERT_EQ(dpkg_in(g2, "-i " + m_v1).status, 0);
  const std::string locked = g2 + "/usr/bin/pkgu-dapp";
  set_immutable_flag(g2 + "/usr/bin", true);
  auto sync = [&] {
    return run_pkgunify(
      {"sync", "--json", "--db", "dpkg", "--policy", policy(), "--state-dir", path("state"), "--root", g2});
  };
  const RunResult first = sync();
  set_immutable_flag(g2 + "/usr/bin", false);
  EXPECT_EQ(first.exit_code, 1) << first.describe();
  EXPECT_NE(first.err.find(locked), std::string::npos) << first.describe();
  EXPECT_NE(stat_path(locked).ino, stat_path(g1 + "/usr/bin/pkgu-dapp").ino);
  EXPECT_EQ(stat_path(g2 + "/usr/share/pkgu-dapp/same.dat").ino, stat_path(g1 + "/usr/share/pkgu-dapp/same.dat").ino);

  const RunResult second = sync();
  ASSERT_EQ(second.exit_code, 0) << second.describe();
  EXPECT_EQ(second.json()["unchanged"], false);
  EXPECT_EQ(stat_path(locked).ino, stat_path(g1 + "/usr/bin/pkgu-dapp").ino);
  const RunResult third = sync();
  ASSERT_EQ(third.exit_code, 0) << third.describe();
  EXPECT_EQ(third.json()["unchanged"], true);
}

// `dpkg -R -i DIR` (the .deb files below a directory) is read the same way:
// the protected files of the installed version are released first.
TEST_P(DpkgHookTest, RecursiveInstallOfADirectoryReleasesFirst)
{
  if (auto why = setup(GetParam()); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g1 = guest("g1");
  const std::string g2 = guest("g2");
  for (const auto& g : {g1, g2}) {
    ASSERT_EQ(dpkg_hooked(g, "-i " + m_v1).status, 0);
  }
  ASSERT_EQ(stat_path(g1 + k_files[0]).ino, stat_path(g2 + k_files[0]).ino);
  const std::string dir = path("debs/sub");
  make_dirs(dir);
  std::filesystem::copy_file(m_v2, dir + "/pkgu-dapp_2.0.deb");
  const ShellResult r = dpkg_hooked(g1, "-R -i " + path("debs"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("pkgunify:"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(g1 + k_files[0]), std::string(30000, 'b') + "2.0");
  EXPECT_EQ(read_file(g2 + k_files[0]), std::string(30000, 'b') + "1.0");
  EXPECT_EQ(has_immutable_flag(g2 + k_files[0]), GetParam() == "immutable");
  EXPECT_EQ(dpkg_in(g1, "--verify").output, "");
  EXPECT_EQ(dpkg_in(g2, "--verify").output, "");
}

TEST_P(DpkgHookTest, AHookProblemNeverFailsDpkg)
{
  if (auto why = setup(GetParam()); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string bad = path("bad.yaml");
  write_text(bad, "link: [\n");
  const std::string g1 = guest("g1");
  const ShellResult r = dpkg_hooked(g1, "-i " + m_v1, bad);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("pkgunify: error: " + bad + ":"), std::string::npos) << r.output;
  EXPECT_NE(read_file(path("hook.log")).find(bad), std::string::npos);
  EXPECT_EQ(dpkg_in(g1, "--verify").status, 0);
  EXPECT_EQ(stat_path(g1 + "/usr/bin/pkgu-dapp").nlink, 1u);
}

TEST_P(DpkgHookTest, AptFromALocalRepositoryInstallsUpgradesAndRemoves)
{
  if (auto why = setup(GetParam()); !why.empty()) {
    GTEST_SKIP() << why;
  }
  if (auto why = missing_tool({"apt-get", "dpkg-scanpackages"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string repo = path("repo");
  make_dirs(repo);
  auto publish = [&](const std::string& deb) {
    ASSERT_EQ(shell("cp " + deb + " " + repo + "/ && cd " + repo + " && dpkg-scanpackages . > Packages").status, 0);
  };
  publish(m_v1);
  std::vector<std::string> guests;
  for (const char* name : {"g1", "g2"}) {
    const std::string g = guest(name);
    for (const char* d : {"/etc/apt/apt.conf.d", "/etc/apt/preferences.d", "/etc/apt/trusted.gpg.d",
                          "/var/lib/apt/lists/partial", "/var/cache/apt/archives/partial", "/var/log/apt"}) {
      make_dirs(g + d);
    }
    write_text(g + "/etc/apt/sources.list", "deb [trusted=yes] file:" + repo + " ./\n");
    guests.push_back(g);
  }
  const std::string bin = PKGUNIFY_BINARY;
  // apt managing a guest from the host: dpkg gets --root, and the hook
  // lines of dpkg-hook/pkgunify.dpkg.cfg.in as options.
  auto apt = [&](const std::string& g, const std::string& args) {
    return shell("apt-get -q -y -o Dir=" + g + " -o Dir::Bin::dpkg=/usr/bin/dpkg -o Dir::State::status=" + g
                 + "/var/lib/dpkg/status -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
                 + " -o DPkg::Options::=--root=" + g + " -o DPkg::Options::=--log=/dev/null"
                 + " -o DPkg::Options::=--force-script-chrootless" + " -o 'DPkg::Options::=--pre-invoke=" + bin
                 + " dpkg-release --hook --policy " + policy() + " || true'"
                 + " -o 'DPkg::Options::=--post-invoke=" + bin + " sync --hook --db dpkg --policy " + policy()
                 + " --state-dir " + path("state") + " || true' " + args);
  };
  for (const auto& g : guests) {
    ASSERT_EQ(apt(g, "update").status, 0);
    const ShellResult r = apt(g, "install pkgu-dapp");
    ASSERT_EQ(r.status, 0) << r.output;
  }
  for (const char* f : k_files) {
    EXPECT_EQ(stat_path(guests[0] + f).ino, stat_path(guests[1] + f).ino) << f;
  }
  publish(m_v2);
  for (const auto& g : guests) {
    ASSERT_EQ(apt(g, "update").status, 0);
    const ShellResult r = apt(g, "upgrade");
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("pkgunify:"), std::string::npos) << r.output;
    const ShellResult v = dpkg_in(g, "--verify");
    EXPECT_EQ(v.status, 0) << v.output;
  }
  EXPECT_EQ(read_file(guests[0] + "/usr/bin/pkgu-dapp"), std::string(30000, 'b') + "2.0");
  for (const char* f : k_files) {
    EXPECT_EQ(stat_path(guests[0] + f).ino, stat_path(guests[1] + f).ino) << "after upgrade: " << f;
  }
  for (const char* c : k_conffiles) {
    EXPECT_EQ(stat_path(guests[0] + c).nlink, 1u) << c;
  }
  const ShellResult r = apt(guests[0], "purge pkgu-dapp");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(exists(guests[0] + "/usr/bin/pkgu-dapp"));
  EXPECT_EQ(dpkg_in(guests[1], "--verify").status, 0);
}

}  // namespace pkgunify::itest
