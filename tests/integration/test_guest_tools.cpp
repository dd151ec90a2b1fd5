// SPDX-License-Identifier: GPL-2.0-or-later
// The guest test infrastructure itself (guest_tools.hpp), under each
// runtime: dpkg, apt, rpm and dnf run inside guests built from test
// packages, without CAP_LINUX_IMMUTABLE. (With unified guests and the
// pkgunify agent: test_in_guest.cpp.)
#include "guest_tools.hpp"
#include "harness.hpp"
#include "pkgbuild.hpp"

#include <linux/capability.h>

#include <chrono>
#include <iostream>
#include <thread>

namespace pkgunify::itest {

namespace {

const char* const k_deb_repo = "/srv/pkgunify-repo";
const char* const k_rpm_repo = "/srv/pkgunify-rpm-repo";

std::string
version_of(const std::string& root, const std::string& name = "pkgu-gt")
{
  return bin_version(root, name);
}

class GuestTools
  : public IntegrationTest
  , public ::testing::WithParamInterface<Runtime>
{
protected:
  // Empty when the test can run, else why not. The guests go on a fresh
  // loop-mounted ext4 (top()), in memory: copying the tools there is several
  // times faster than onto the disk.
  std::string
  can_run(std::initializer_list<const char*> tools)
  {
    if (auto why = GuestRunner::unavailable(GetParam()); !why.empty()) {
      return why;
    }
    if (auto why = missing_tool(tools); !why.empty()) {
      return why;
    }
    return guest_top("ext4", m_top);
  }

  [[nodiscard]] std::string
  guest_path(const std::string& name) const
  {
    return m_top + "/" + name;
  }

  // `root` with the host tools of `packages`, the time it took logged.
  void
  tools(const std::string& root, const std::vector<std::string>& packages)
  {
    const HostTools t = install_host_tools(root, packages);
    std::cout << "install_host_tools " << root << ": " << t.describe() << "\n";
  }

  // A dpkg guest with pkgu-gt 1.0 installed from the host (dpkg --root).
  void
  dpkg_guest(const std::string& root, const std::vector<std::string>& packages)
  {
    tools(root, packages);
    dpkg_init_root(root);
    const ShellResult r = dpkg_in(root, "-i " + quote(m_debs.at(0)));
    ASSERT_EQ(r.status, 0) << r.output;
  }

  void
  build_debs()
  {
    for (const auto& [name, version] :
         {std::pair{"pkgu-gt", "1.0"}, std::pair{"pkgu-gt", "2.0"}, std::pair{"pkgu-gt-extra", "1.0"}}) {
      m_debs.push_back(build_deb(guest_package(name, version), tmp()));
    }
  }

  // The result, checked: exit status 0.
  static ShellResult
  ok(const GuestRunner& g, const std::string& cmd)
  {
    ShellResult r = g.run(cmd);
    EXPECT_EQ(r.status, 0) << runtime_name(g.runtime()) << ": " << cmd << "\n" << r.output;
    return r;
  }

  std::string m_top;
  std::vector<std::string> m_debs;  // pkgu-gt 1.0, 2.0, pkgu-gt-extra 1.0
};

}  // namespace

// dpkg -i, apt-get install from a local repository, dpkg -r and dpkg -P,
// all run inside the guest.
TEST_P(GuestTools, DpkgAndAptRunInsideTheGuest)
{
  if (auto why = can_run({"dpkg", "dpkg-deb", "dpkg-scanpackages", "tar", "bash"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  build_debs();
  const std::string g = guest_path("g1");
  dpkg_guest(g, k_apt_tools);
  make_apt_repo(path("repo"), m_debs);
  use_apt_repo(g, k_deb_repo);
  GuestRunner guest(GetParam(), g);
  guest.bind(path("repo"), k_deb_repo, true);

  ok(guest, "dpkg -i " + std::string(k_deb_repo) + "/pkgu-gt_2.0-1_all.deb");
  EXPECT_NE(ok(guest, "dpkg -s pkgu-gt").output.find("Version: 2.0-1"), std::string::npos);
  EXPECT_NE(dpkg_in(g, "-s pkgu-gt").output.find("Version: 2.0-1"), std::string::npos);  // the guest's own db
  EXPECT_EQ(version_of(g), "2.0");

  ok(guest, "apt-get update && apt-get install -y pkgu-gt-extra");
  EXPECT_NE(ok(guest, "dpkg -s pkgu-gt-extra").output.find("Status: install ok installed"), std::string::npos);
  EXPECT_EQ(version_of(g, "pkgu-gt-extra"), "1.0");

  ok(guest, "dpkg -r pkgu-gt");
  EXPECT_FALSE(exists(g + "/usr/bin/pkgu-gt"));
  EXPECT_TRUE(exists(g + "/etc/pkgu-gt.conf"));  // a conffile stays until the purge
  ok(guest, "dpkg -P pkgu-gt");
  EXPECT_FALSE(exists(g + "/etc/pkgu-gt.conf"));
  EXPECT_NE(guest.run("dpkg -s pkgu-gt").status, 0);
  const ShellResult verify = ok(guest, "dpkg --verify");
  EXPECT_EQ(verify.output, "");
}

// rpm -U, rpm -e and dnf upgrade from a local repository, inside the guest:
// dnf is a librpm user that is not the rpm command.
TEST_P(GuestTools, RpmAndDnfRunInsideTheGuest)
{
  if (auto why = can_run({"rpm", "rpmbuild", "createrepo_c", "dnf", "tar", "bash"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string v1 = build_rpm(guest_package("pkgu-gt", "1.0"), tmp());
  const std::string v2 = build_rpm(guest_package("pkgu-gt", "2.0"), tmp());
  const std::string g = guest_path("g1");
  tools(g, k_dnf_tools);
  rpm_init_root(g);
  ASSERT_EQ(rpm_in(g, "-i --nodeps " + quote(v1)).status, 0);
  make_rpm_repo(path("repo"), {v1, v2});
  use_dnf_repo(g, k_rpm_repo);
  GuestRunner guest(GetParam(), g);
  guest.bind(path("repo"), k_rpm_repo, true);
  const std::string repo = k_rpm_repo;

  ok(guest, "rpm -U " + repo + "/pkgu-gt-2.0-1.noarch.rpm");
  EXPECT_EQ(ok(guest, "rpm -q pkgu-gt").output, "pkgu-gt-2.0-1.noarch\n");
  EXPECT_EQ(rpm_in(g, "-q pkgu-gt").output, "pkgu-gt-2.0-1.noarch\n");  // the guest's own db
  EXPECT_EQ(version_of(g), "2.0");

  ok(guest, "rpm -e pkgu-gt");
  EXPECT_FALSE(exists(g + "/usr/bin/pkgu-gt"));
  EXPECT_NE(guest.run("rpm -q pkgu-gt").status, 0);

  ok(guest, "rpm -i " + repo + "/pkgu-gt-1.0-1.noarch.rpm");
  const ShellResult up = ok(guest, "dnf -y upgrade");
  EXPECT_NE(up.output.find("pkgu-gt"), std::string::npos) << up.output;
  EXPECT_EQ(ok(guest, "rpm -q pkgu-gt").output, "pkgu-gt-2.0-1.noarch\n");
  EXPECT_EQ(version_of(g), "2.0");
}

// Inside, root has no CAP_LINUX_IMMUTABLE in any set, and cannot take the
// immutable flag off a file.
TEST_P(GuestTools, CapabilityIsGoneInside)
{
  if (auto why = can_run({"tar", "bash", "chattr"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g = guest_path("g1");
  tools(g, {"e2fsprogs"});
  GuestRunner guest(GetParam(), g);

  EXPECT_EQ(ok(guest, "id -u").output, "0\n");
  const ShellResult status = ok(guest, "cat /proc/self/status");
  const CapSets caps = parse_cap_sets(status.output);
  EXPECT_FALSE(caps.any_has(CAP_LINUX_IMMUTABLE)) << status.output;
  EXPECT_TRUE(caps.eff & (std::uint64_t{1} << CAP_CHOWN)) << status.output;  // still root otherwise

  write_text(g + "/probe", "protected\n");
  set_immutable_flag(g + "/probe", true);
  const ShellResult lift = guest.run("chattr -i /probe");
  EXPECT_NE(lift.status, 0);
  EXPECT_NE(lift.output.find("Operation not permitted"), std::string::npos) << lift.output;
  const ShellResult rm = guest.run("rm -f /probe");
  EXPECT_NE(rm.status, 0);
  EXPECT_NE(rm.output.find("Operation not permitted"), std::string::npos) << rm.output;
  EXPECT_TRUE(has_immutable_flag(g + "/probe"));
  set_immutable_flag(g + "/probe", false);
}

// The host sees the guest's process with the guest root as its root
// (/proc/PID/root: same device and inode), and without the capability: what
// the agent will check of its peers. The bind of a host directory works.
TEST_P(GuestTools, ProcessRootIsTheGuestRoot)
{
  if (auto why = can_run({"tar", "bash"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g = guest_path("g1");
  tools(g, {});
  make_dirs(path("run"));
  GuestRunner guest(GetParam(), g);
  guest.bind(path("run"), "/run/pkgunify");
  // The shell creates the file before echo writes to it: the test waits for its name after
  // a rename, so that it never reads the file empty.
  GuestProcess proc = guest.start(
    "echo inside > /run/pkgunify/started.tmp && mv /run/pkgunify/started.tmp /run/pkgunify/started; exec sleep 60",
    path("proc.log"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!exists(path("run/started")) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(exists(path("run/started"))) << proc.output();
  EXPECT_EQ(read_file(path("run/started")), "inside\n");

  const std::vector<pid_t> pids = processes_rooted_at(proc.pid(), g);
  ASSERT_FALSE(pids.empty()) << "no process below " << proc.pid() << " has " << g << " as its root";
  for (const pid_t pid : pids) {
    const CapSets caps = parse_cap_sets(read_file("/proc/" + std::to_string(pid) + "/status"));
    EXPECT_FALSE(caps.any_has(CAP_LINUX_IMMUTABLE)) << pid;
  }
  EXPECT_TRUE(processes_rooted_at(proc.pid(), "/").size() <= 1);  // at most the runtime itself
  proc.stop();
  EXPECT_TRUE(processes_rooted_at(0, g).empty());  // stopping the runtime ended the guest's processes
}

INSTANTIATE_TEST_SUITE_P(Runtimes, GuestTools, ::testing::Values(Runtime::chroot, Runtime::nspawn), runtime_param_name);

}  // namespace pkgunify::itest
