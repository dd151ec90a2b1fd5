// SPDX-License-Identifier: GPL-2.0-or-later
// Guests that run their own package managers, end to end: two guests of
// test packages, unified by a host scan in link mode immutable, served by a
// real `pkgunify agent`; inside guest 1, under chroot (setpriv, without
// CAP_LINUX_IMMUTABLE) and under systemd-nspawn, its root runs dpkg, apt,
// rpm and dnf with the pkgunify-guest pieces installed (the client, the
// dpkg hook lines, the rpm plugin in guest mode). Each run succeeds, guest
// 2 keeps its version and protection, guest 1's new files are unified
// afterwards, and once both upgraded they share the new objects.
#include "agent_harness.hpp"
#include "guest_tools.hpp"
#include "harness.hpp"
#include "pkgbuild.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>

namespace pkgunify::itest {

namespace {

using namespace std::chrono_literals;

const char* const k_repo = "/srv/pkgunify-repo";
const char* const k_bin = "/usr/bin/pkgu-ig";
const char* const k_lib = "/usr/lib/pkgu-ig/data.bin";
const char* const k_same = "/usr/share/pkgu-ig/same.dat";
const char* const k_conf = "/etc/pkgu-ig.conf";

std::string
version_of(const std::string& root, const std::string& name = "pkgu-ig")
{
  return bin_version(root, name);
}

class InGuest
  : public IntegrationTest
  , public ::testing::WithParamInterface<Runtime>
{
protected:
  std::string
  can_run(std::initializer_list<const char*> tools)
  {
#ifdef PKGUNIFY_SANITIZED
    // (The agent itself runs instrumented in test_agent.cpp.)
    return "sanitizer build: the client and the plugin need the sanitizer runtime, which a guest does not have";
#endif
    if (auto why = GuestRunner::unavailable(GetParam()); !why.empty()) {
      return why;
    }
    if (auto why = missing_tool(tools); !why.empty()) {
      return why;
    }
    // Room for the rpm guests' tools (about 200 MB of dnf and python3 each)
    // and the store: an image in memory, sparse.
    m_top = path("mnt");
    if (auto why = mount_fs("ext4", m_top, 2048); !why.empty()) {
      return why;
    }
    write_text(policy(), "store: " + store_dir() + "\nlink: immutable\n");
    m_agent = std::make_unique<AgentProcess>(path("run"), path("guests.d"), path("agent.log"));
    return {};
  }

  void
  TearDown() override
  {
    m_agent.reset();
    IntegrationTest::TearDown();
  }

  [[nodiscard]] std::string
  policy() const
  {
    return path("policy.yaml");
  }
  [[nodiscard]] std::string
  store_dir() const
  {
    return m_top + "/store";
  }
  [[nodiscard]] std::string
  guest_path(const std::string& name) const
  {
    return m_top + "/" + name;
  }

  // What the pkgunify-guest package puts into a guest, from the build tree:
  // the client, the dpkg hook lines, the rpm plugin in guest mode.
  static void
  install_guest_package(const std::string& root, bool rpm)
  {
    auto copy = [](const std::string& from, const std::string& to, mode_t mode) {
      make_dirs(to.substr(0, to.rfind('/')));
      ASSERT_EQ(shell("install -m " + std::to_string(mode) + " " + quote(from) + " " + quote(to)).status, 0);
    };
    copy(PKGUNIFY_GUEST_BINARY, root + "/usr/bin/pkgunify-guest", 755);
    copy(std::string(PKGUNIFY_SOURCE_DIR) + "/dpkg-hook/pkgunify-guest.dpkg.cfg",
         root + "/etc/dpkg/dpkg.cfg.d/pkgunify-guest", 644);
    if (rpm) {
      const ShellResult dir = shell("rpm --eval '%{__plugindir}'");
      std::string plugindir = dir.output.substr(0, dir.output.find('\n'));
      copy(PKGUNIFY_RPM_PLUGIN, root + plugindir + "/pkgunify_guest.so", 644);
      copy(std::string(PKGUNIFY_SOURCE_DIR) + "/rpm-plugin/macros.transaction_pkgunify_guest",
           root + "/usr/lib/rpm/macros.d/macros.transaction_pkgunify_guest", 644);
    }
  }

  // Registers and serves the guests, and scans them (link mode immutable).
  void
  unify_and_serve(const std::vector<std::pair<std::string, std::string>>& guests)
  {
    std::vector<std::string> args{"scan", "--json", "--policy", policy()};
    for (const auto& [name, root] : guests) {
      m_agent->add(name, root);
      args.push_back(root);
    }
    const RunResult r = run_pkgunify(args);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    m_agent->start(policy());
    for (const auto& [name, root] : guests) {
      ASSERT_TRUE(m_agent->wait_for_socket(name)) << m_agent->log();
    }
  }

  // A runner for guest NAME at ROOT, its socket directory at /run/pkgunify
  // (read-only, as docs/guests.md says), the repository at k_repo.
  GuestRunner
  runner(const std::string& name, const std::string& root)
  {
    GuestRunner g(GetParam(), root);
    g.bind(m_agent->socket_dir(name), "/run/pkgunify", true);
    g.bind(path("repo"), k_repo, true);
    return g;
  }

  static ShellResult
  ok(const GuestRunner& g, const std::string& cmd)
  {
    ShellResult r = g.run(cmd);
    EXPECT_EQ(r.status, 0) << runtime_name(g.runtime()) << ": " << cmd << "\n" << r.output;
    return r;
  }

  // Waits until each of `files` in `root` is a protected link into the
  // store (the agent's sync or unify runs after the package manager).
  bool
  wait_unified(const std::string& root, std::initializer_list<const char*> files, std::chrono::seconds limit = 60s)
  {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      bool all = true;
      for (const char* f : files) {
        all = all && exists(root + f) && has_immutable_flag(root + f)
              && object_with_inode(store_dir(), stat_path(root + f).ino).has_value();
      }
      if (all) {
        return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  // Guest 2 untouched: version 1, protected, a link into the store.
  void
  expect_untouched(const std::string& g2, const std::string& when)
  {
    EXPECT_EQ(version_of(g2), "1.0") << when;
    for (const char* f : {k_bin, k_lib, k_same}) {
      EXPECT_TRUE(has_immutable_flag(g2 + f)) << when << ": " << f;
      EXPECT_TRUE(object_with_inode(store_dir(), stat_path(g2 + f).ino).has_value()) << when << ": " << f;
    }
    EXPECT_FALSE(has_immutable_flag(g2 + k_conf)) << when;
  }

  std::string m_top;
  std::unique_ptr<AgentProcess> m_agent;
};

}  // namespace

// Inside guest 1: dpkg -i version 2, apt-get install from a local
// repository, dpkg -r, dpkg -P; guest 2 upgrades too and both share the new
// objects.
TEST_P(InGuest, DpkgAndAptRunsSucceedAndGuest2KeepsItsFiles)
{
  if (auto why = can_run({"dpkg", "dpkg-deb", "dpkg-scanpackages", "tar", "bash"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  std::vector<std::string> debs;
  for (const auto& [name, version] :
       {std::pair{"pkgu-ig", "1.0"}, std::pair{"pkgu-ig", "2.0"}, std::pair{"pkgu-ig-extra", "1.0"}}) {
    debs.push_back(build_deb(guest_package(name, version), tmp()));
  }
  make_apt_repo(path("repo"), debs);
  const std::string g1 = guest_path("g1");
  const std::string g2 = guest_path("g2");
  for (const auto& g : {g1, g2}) {
    install_host_tools(g, k_apt_tools);
    dpkg_init_root(g);
    ASSERT_EQ(dpkg_in(g, "-i " + quote(debs[0])).status, 0);
    install_guest_package(g, false);
    use_apt_repo(g, k_repo);
  }
  unify_and_serve({{"g1", g1}, {"g2", g2}});
  ASSERT_TRUE(has_immutable_flag(g1 + k_bin));
  ASSERT_EQ(stat_path(g1 + k_bin).ino, stat_path(g2 + k_bin).ino);
  const GuestRunner in1 = runner("g1", g1);

  const std::string v2 = std::string(k_repo) + "/pkgu-ig_2.0-1_all.deb";
  ok(in1, "dpkg -i " + v2);
  EXPECT_EQ(version_of(g1), "2.0");
  expect_untouched(g2, "after dpkg -i in g1");
  EXPECT_TRUE(wait_unified(g1, {k_bin, k_lib, k_same})) << m_agent->log();
  EXPECT_EQ(stat_path(g1 + k_same).ino, stat_path(g2 + k_same).ino);  // the same content stays shared
  EXPECT_FALSE(has_immutable_flag(g1 + k_conf));

  ok(in1, "apt-get update && apt-get install -y pkgu-ig-extra");
  EXPECT_EQ(version_of(g1, "pkgu-ig-extra"), "1.0");
  EXPECT_TRUE(wait_unified(g1, {"/usr/bin/pkgu-ig-extra"})) << m_agent->log();
  ok(in1, "dpkg -r pkgu-ig-extra");
  EXPECT_FALSE(exists(g1 + "/usr/bin/pkgu-ig-extra"));
  EXPECT_TRUE(exists(g1 + "/etc/pkgu-ig-extra.conf"));
  ok(in1, "dpkg -P pkgu-ig-extra");
  EXPECT_FALSE(exists(g1 + "/etc/pkgu-ig-extra.conf"));
  EXPECT_EQ(ok(in1, "dpkg --verify").output, "");
  expect_untouched(g2, "after apt-get, dpkg -r and -P in g1");
  EXPECT_EQ(dpkg_in(g2, "--verify").output, "");

  // Guest 2 upgrades inside itself too: both share the new objects.
  const GuestRunner in2 = runner("g2", g2);
  ok(in2, "dpkg -i " + v2);
  EXPECT_TRUE(wait_unified(g2, {k_bin, k_lib, k_same})) << m_agent->log();
  for (const char* f : {k_bin, k_lib, k_same}) {
    EXPECT_EQ(stat_path(g1 + f).ino, stat_path(g2 + f).ino) << f;
  }
  EXPECT_EQ(dpkg_in(g1, "--verify").output, "");
  EXPECT_EQ(dpkg_in(g2, "--verify").output, "");
  EXPECT_TRUE(m_agent->alive());
}

// In rpm guests: rpm -U, rpm -e, and dnf upgrade from a local repository
// (a librpm user that is not the rpm command), through the plugin in guest
// mode.
TEST_P(InGuest, RpmAndDnfRunsSucceedAndGuest2KeepsItsFiles)
{
  if (auto why = can_run({"rpm", "rpmbuild", "createrepo_c", "dnf", "tar", "bash"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string v1 = build_rpm(guest_package("pkgu-ig", "1.0"), tmp());
  const std::string v2 = build_rpm(guest_package("pkgu-ig", "2.0"), tmp());
  make_rpm_repo(path("repo"), {v1, v2});
  const std::string g1 = guest_path("g1");
  const std::string g2 = guest_path("g2");
  install_host_tools(g1, k_dnf_tools);
  install_host_tools(g2, k_rpm_tools);
  for (const auto& g : {g1, g2}) {
    rpm_init_root(g);
    ASSERT_EQ(rpm_in(g, "-i --nodeps " + quote(v1)).status, 0);
    install_guest_package(g, true);
  }
  use_dnf_repo(g1, k_repo);
  unify_and_serve({{"g1", g1}, {"g2", g2}});
  ASSERT_TRUE(has_immutable_flag(g1 + k_bin));
  const GuestRunner in1 = runner("g1", g1);
  const std::string repo = k_repo;

  ok(in1, "rpm -U " + repo + "/pkgu-ig-2.0-1.noarch.rpm");
  EXPECT_EQ(version_of(g1), "2.0");
  expect_untouched(g2, "after rpm -U in g1");
  EXPECT_TRUE(wait_unified(g1, {k_bin, k_lib, k_same})) << m_agent->log();

  ok(in1, "rpm -e pkgu-ig");
  EXPECT_FALSE(exists(g1 + k_bin));
  ok(in1, "rpm -i " + repo + "/pkgu-ig-1.0-1.noarch.rpm");
  EXPECT_TRUE(wait_unified(g1, {k_bin, k_lib})) << m_agent->log();
  const ShellResult up = ok(in1, "dnf -y upgrade");
  EXPECT_NE(up.output.find("pkgu-ig"), std::string::npos) << up.output;
  EXPECT_EQ(version_of(g1), "2.0");
  EXPECT_TRUE(wait_unified(g1, {k_bin, k_lib, k_same})) << m_agent->log();
  EXPECT_EQ(ok(in1, "rpm -Va pkgu-ig").output, "");
  expect_untouched(g2, "after rpm -e, rpm -i and dnf upgrade in g1");
  EXPECT_EQ(rpm_in(g2, "-Va pkgu-ig").output, "");

  const GuestRunner in2 = runner("g2", g2);
  ok(in2, "rpm -U " + repo + "/pkgu-ig-2.0-1.noarch.rpm");
  EXPECT_TRUE(wait_unified(g2, {k_bin, k_lib, k_same})) << m_agent->log();
  for (const char* f : {k_bin, k_lib, k_same}) {
    EXPECT_EQ(stat_path(g1 + f).ino, stat_path(g2 + f).ino) << f;
  }
  EXPECT_EQ(rpm_in(g2, "-Va pkgu-ig").output, "");
}

// Without a reachable agent (stopped): one line, and dpkg behaves as without
// pkgunify: a package whose files are not unified installs, an upgrade of a
// unified file fails as it would.
TEST_P(InGuest, WithoutAnAgentOneLineAndDpkgAsWithoutPkgunify)
{
  if (auto why = can_run({"dpkg", "dpkg-deb", "dpkg-scanpackages", "tar", "bash"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string v1 = build_deb(guest_package("pkgu-ig", "1.0"), tmp());
  const std::string v2 = build_deb(guest_package("pkgu-ig", "2.0"), tmp());
  const std::string extra = build_deb(guest_package("pkgu-ig-extra", "1.0"), tmp());
  make_apt_repo(path("repo"), {v1, v2, extra});
  const std::string g1 = guest_path("g1");
  const std::string g2 = guest_path("g2");
  for (const auto& g : {g1, g2}) {
    install_host_tools(g, k_dpkg_tools);
    dpkg_init_root(g);
    ASSERT_EQ(dpkg_in(g, "-i " + quote(v1)).status, 0);
    install_guest_package(g, false);
  }
  unify_and_serve({{"g1", g1}, {"g2", g2}});
  m_agent->stop();
  const GuestRunner in1 = runner("g1", g1);
  const ShellResult fresh = in1.run("dpkg -i " + std::string(k_repo) + "/pkgu-ig-extra_1.0-1_all.deb");
  EXPECT_EQ(fresh.status, 0) << fresh.output;
  std::size_t lines = 0;
  for (std::size_t at = 0;
       (at = fresh.output.find("no pkgunify agent at /run/pkgunify/agent.sock", at)) != std::string::npos; ++at) {
    ++lines;
  }
  EXPECT_EQ(lines, 2u) << fresh.output;  // one per hook: before and after the run
  const ShellResult up = in1.run("dpkg -i " + std::string(k_repo) + "/pkgu-ig_2.0-1_all.deb");
  EXPECT_NE(up.status, 0) << up.output;
  EXPECT_NE(up.output.find("Operation not permitted"), std::string::npos) << up.output;
  EXPECT_EQ(version_of(g1), "1.0");
  expect_untouched(g2, "after g1's runs without an agent");
}

INSTANTIATE_TEST_SUITE_P(Runtimes, InGuest, ::testing::Values(Runtime::chroot, Runtime::nspawn), runtime_param_name);

}  // namespace pkgunify::itest
