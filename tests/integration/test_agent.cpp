// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify agent`: a real agent process serving guests on their sockets,
// and clients that really are inside a guest (a forked process, chrooted
// into the guest root, with the guest's socket directory bind-mounted at
// /run/pkgunify as an admin would), honest and hostile.
#include "agent_harness.hpp"
#include "guest/agent_protocol.hpp"
#include "harness.hpp"
#include "pkgbuild.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace pkgunify::itest {

namespace {

using agent::Answer;
using agent::Outcome;
using agent::Request;
using agent::Verb;
using namespace std::chrono_literals;
using namespace std::string_literals;

PkgSpec
demo(const std::string& version)
{
  PkgSpec p;
  p.name = "pkgu-agentdemo";
  p.version = version;
  p.files = {
    {"/usr/bin/pkgu-agentdemo", std::string(30000, 'b') + version, 0755, false},
    {"/usr/share/pkgu-agentdemo/same.dat", std::string(5000, 's'), 0644, false},
    {"/etc/pkgu-agentdemo.conf", "conf " + version + "\n", 0644, true},
  };
  return p;
}

const char* const k_tool = "/usr/bin/pkgu-agentdemo";
const char* const k_same = "/usr/share/pkgu-agentdemo/same.dat";

// What a process inside a guest does, run in a forked child: a private
// mount namespace, SOCKET_DIR bind-mounted read-only at ROOT/run/pkgunify,
// chroot into ROOT, then `body`, whose result is written to a pipe.
std::string
inside_guest(const std::string& root, const std::string& socket_dir, const std::function<std::string()>& body)
{
  int fds[2];
  if (::pipe(fds) != 0) {
    throw std::runtime_error("pipe");
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out;
    const std::string mnt = root + "/run/pkgunify";
    ::mkdir((root + "/run").c_str(), 0755);
    ::mkdir(mnt.c_str(), 0755);
    if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0
        || ::mount(socket_dir.c_str(), mnt.c_str(), nullptr, MS_BIND, nullptr) != 0
        || ::mount(nullptr, mnt.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0
        || ::chroot(root.c_str()) != 0 || ::chdir("/") != 0) {
      out = std::string("setup: ") + std::strerror(errno);
    } else {
      out = body();
    }
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  return out;
}

// An answer as text, for comparisons and failure messages.
std::string
show(const sys::Result<Answer>& a)
{
  if (!a) {
    return "no answer: " + a.error().message;
  }
  std::string s = std::string(agent::outcome_name(a->outcome));
  for (const auto& [n, c] : a->counts) {
    s += " " + n + "=" + std::to_string(c);
  }
  for (const auto& f : a->failures) {
    s += "\nfail " + f;
  }
  for (const auto& e : a->errors) {
    s += "\nerror " + e;
  }
  for (const auto& t : a->text) {
    s += "\ntext " + t;
  }
  return s;
}

std::uint64_t
count_of(const std::string& shown, const std::string& name)
{
  const auto at = shown.find(" " + name + "=");
  return at == std::string::npos ? 0 : std::stoull(shown.substr(at + name.size() + 2));
}

class AgentTest : public IntegrationTest
{
protected:
  void
  SetUp() override
  {
    IntegrationTest::SetUp();
    if (!is_root()) {
      GTEST_SKIP() << "an agent serving chrooted guests needs root";
    }
    if (auto why = missing_tool({"dpkg", "dpkg-deb"}); !why.empty()) {
      GTEST_SKIP() << why;
    }
    if (auto why = guest_top("ext4", m_top); !why.empty()) {
      GTEST_SKIP() << why;
    }
    m_agent = std::make_unique<AgentProcess>(path("run"), path("guests.d"), path("agent.log"));
    write_text(policy(), "store: " + m_top + "/store\nlink: immutable\n");
    m_v1 = build_deb(demo("1.0"), tmp());
    m_v2 = build_deb(demo("2.0"), tmp());
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

  // A guest with version 1 of the demo package, registered.
  std::string
  add_guest(const std::string& name)
  {
    const std::string g = m_top + "/" + name;
    dpkg_init_root(g);
    EXPECT_EQ(dpkg_in(g, "-i " + quote(m_v1)).status, 0);
    m_agent->add(name, g);
    return g;
  }

  [[nodiscard]] std::string
  socket_dir(const std::string& name) const
  {
    return m_agent->socket_dir(name);
  }

  void
  start_agent(const std::vector<std::string>& extra = {})
  {
    m_agent->start(policy(), extra);
  }

  bool
  wait_for_socket(const std::string& name, bool present, std::chrono::seconds limit = 10s)
  {
    return m_agent->wait_for_socket(name, present, limit);
  }

  // `r`, sent from inside guest `root` over the socket of guest `name`.
  std::string
  call_from(const std::string& root, const std::string& name, const Request& r)
  {
    return inside_guest(root, socket_dir(name),
                        [&] { return show(agent::call("/run/pkgunify/agent.sock", r, std::chrono::seconds(60))); });
  }

  void
  scan_guests(const std::vector<std::string>& roots)
  {
    std::vector<std::string> args{"scan", "--json", "--policy", policy()};
    args.insert(args.end(), roots.begin(), roots.end());
    const RunResult r = run_pkgunify(args);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
  }

  // Guests g1 and g2, scanned together: their files share inodes.
  std::pair<std::string, std::string>
  unified_guests()
  {
    std::pair<std::string, std::string> g{add_guest("g1"), add_guest("g2")};
    scan_guests({g.first, g.second});
    return g;
  }

  std::string m_top;
  std::string m_v1;
  std::string m_v2;
  std::unique_ptr<AgentProcess> m_agent;
};

Request
request(Verb v, std::vector<std::string> args = {}, bool wait = false)
{
  Request r;
  r.verb = v;
  r.args = std::move(args);
  r.wait = wait;
  return r;
}

}  // namespace

// A guest releases a unified file of its own before its package manager
// replaces it: its copy becomes private and writable, the other guest's
// stays shared and protected.
TEST_F(AgentTest, AGuestReleasesItsOwnFileAndOnlyThat)
{
  const auto [g1, g2] = unified_guests();
  ASSERT_EQ(stat_path(g1 + k_tool).ino, stat_path(g2 + k_tool).ino);
  ASSERT_TRUE(has_immutable_flag(g1 + k_tool));
  start_agent();
  ASSERT_TRUE(wait_for_socket("g1", true)) << m_agent->log();
  ASSERT_TRUE(wait_for_socket("g2", true));
  const ino_t shared = stat_path(g2 + k_tool).ino;

  const std::string a = call_from(g1, "g1", request(Verb::release, {k_tool}));
  EXPECT_TRUE(a.starts_with("ok")) << a;
  EXPECT_EQ(count_of(a, "released"), 1u) << a;
  EXPECT_FALSE(has_immutable_flag(g1 + k_tool));
  EXPECT_NE(stat_path(g1 + k_tool).ino, shared);
  EXPECT_EQ(read_file(g1 + k_tool), read_file(g2 + k_tool));
  EXPECT_EQ(stat_path(g2 + k_tool).ino, shared);
  EXPECT_TRUE(has_immutable_flag(g2 + k_tool));

  // Released already: nothing to do the second time.
  const std::string again = call_from(g1, "g1", request(Verb::release, {k_tool}));
  EXPECT_TRUE(again.starts_with("ok")) << again;
  EXPECT_EQ(count_of(again, "released"), 0u) << again;
}

// The pre-invoke hook's request: dpkg's argument vector and directory; the
// .deb file is read inside the guest, and the files of the package it
// replaces are released, config files apart.
TEST_F(AgentTest, DpkgReleaseReadsTheDebInsideTheGuest)
{
  const auto [g1, g2] = unified_guests();
  make_dirs(g1 + "/root");
  ASSERT_EQ(shell("cp " + quote(m_v2) + " " + quote(g1 + "/root/demo.deb")).status, 0);
  start_agent();
  ASSERT_TRUE(wait_for_socket("g1", true)) << m_agent->log();
  Request r = request(Verb::dpkg_release, {"dpkg", "-i", "demo.deb"});
  r.cwd = "/root";
  const std::string a = call_from(g1, "g1", r);
  EXPECT_TRUE(a.starts_with("ok")) << a;
  EXPECT_EQ(count_of(a, "released"), 2u) << a;
  EXPECT_EQ(count_of(a, "packages"), 1u) << a;
  for (const char* f : {k_tool, k_same}) {
    EXPECT_FALSE(has_immutable_flag(g1 + f)) << f;
    EXPECT_TRUE(has_immutable_flag(g2 + f)) << f;
  }
  // Now the guest's own dpkg can replace them (here run from the host on
  // its root, without the host's hooks).
  EXPECT_EQ(dpkg_in(g1, "-i " + quote(m_v2)).status, 0);
  // Removing: names on the command line.
  const std::string rm = call_from(g2, "g2", request(Verb::dpkg_release, {"dpkg", "-r", "pkgu-agentdemo"}));
  EXPECT_TRUE(rm.starts_with("ok")) << rm;
  EXPECT_EQ(count_of(rm, "released"), 2u) << rm;
}

// After the guest's package manager ran: sync (waited for) unifies what
// changed, and both guests share the new objects once both upgraded.
TEST_F(AgentTest, SyncUnifiesWhatTheGuestInstalled)
{
  const auto [g1, g2] = unified_guests();
  start_agent();
  ASSERT_TRUE(wait_for_socket("g1", true)) << m_agent->log();
  for (const auto& [g, name] : {std::pair{g1, "g1"}, std::pair{g2, "g2"}}) {
    const std::string rel = call_from(g, name, request(Verb::release_packages, {"pkgu-agentdemo"}));
    EXPECT_TRUE(rel.starts_with("ok")) << rel;
    ASSERT_EQ(dpkg_in(g, "-i " + quote(m_v2)).status, 0);
    const std::string s = call_from(g, name, request(Verb::sync, {}, true));
    EXPECT_TRUE(s.starts_with("ok")) << s;
  }
  EXPECT_EQ(stat_path(g1 + k_tool).ino, stat_path(g2 + k_tool).ino);
  EXPECT_TRUE(has_immutable_flag(g1 + k_tool));
  EXPECT_NE(read_file(g1 + k_tool).find("2.0"), std::string::npos);
  EXPECT_TRUE(object_with_inode(m_top + "/store", stat_path(g1 + k_tool).ino).has_value());
  // A sync not waited for is queued at once.
  const std::string q = call_from(g1, "g1", request(Verb::sync));
  EXPECT_TRUE(q.starts_with("queued")) << q;
  const std::string st = call_from(g1, "g1", request(Verb::status));
  EXPECT_TRUE(st.starts_with("ok")) << st;
  EXPECT_NE(st.find("text "), std::string::npos) << st;
}

// Everything a hostile guest 1 names that is not its own file: other
// guests' files through "..", symlinks, absolute host paths, /proc; nothing
// outside guest 1 changes.
TEST_F(AgentTest, AGuestCannotReleaseAnotherGuestsFiles)
{
  const std::string g1 = add_guest("g1");
  const std::string g2 = add_guest("g2");
  const std::string g3 = add_guest("g3");  // not unified with the others' inode on purpose: a witness
  scan_guests({g1, g2});
  make_symlink(g2 + k_tool, g1 + "/usr/bin/evil-abs");
  make_symlink("../../../g2/usr/bin/pkgu-agentdemo", g1 + "/usr/bin/evil-rel");
  make_symlink(g2 + "/usr/bin", g1 + "/usr/evil-dir");
  // A build chroot often has /proc mounted, seen from the host too: its
  // magic links lead out of the root.
  make_dirs(g1 + "/proc");
  ASSERT_EQ(::mount("proc", (g1 + "/proc").c_str(), "proc", 0, nullptr), 0) << std::strerror(errno);
  struct Unmount
  {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{g1 + "/proc"};
  start_agent();
  ASSERT_TRUE(wait_for_socket("g1", true)) << m_agent->log();
  const Snapshot before = snapshot(m_top + "/g2");
  const ino_t shared = stat_path(g2 + k_tool).ino;
  const std::vector<std::string> evil{
    "/../g2" + std::string(k_tool),
    "/../../../.." + g2 + k_tool,
    g2 + k_tool,  // the host's path, meaningless inside g1
    "/usr/bin/evil-abs",
    "/usr/bin/evil-rel",
    "/usr/evil-dir/pkgu-agentdemo",
    "/proc/self/root" + g2 + k_tool,
    "/proc/1/root" + g2 + k_tool,
    "/proc/thread-self/root" + g2 + k_tool,
    "/proc/" + std::to_string(::getpid()) + "/cwd/../g2" + k_tool,
    "relative/path",
  };
  const std::string a = call_from(g1, "g1", request(Verb::release, evil));
  EXPECT_TRUE(a.starts_with("ok") || a.starts_with("failed")) << a;
  EXPECT_EQ(count_of(a, "released"), 0u) << a;
  // Packages and .deb files: the guest's own database only; a .deb outside.
  const std::string p = call_from(g1, "g1", request(Verb::release_packages, {"/../" + m_v2, g2 + "/var/lib/dpkg"}));
  EXPECT_EQ(count_of(p, "released"), 0u) << p;
  const std::string d =
    call_from(g1, "g1", request(Verb::dpkg_release, {"dpkg", "-i", "/../../../.." + m_v2, "/proc/self/root" + m_v2}));
  EXPECT_EQ(count_of(d, "released"), 0u) << d;
  EXPECT_EQ(diff_snapshots(before, snapshot(m_top + "/g2")), std::vector<std::string>{});
  EXPECT_EQ(stat_path(g2 + k_tool).ino, shared);
  EXPECT_TRUE(has_immutable_flag(g2 + k_tool));
  EXPECT_TRUE(has_immutable_flag(g1 + k_tool));  // not even its own: no path named it
  (void)g3;
}

// A socket bind-mounted into the wrong guest serves nobody, nor does it
// serve a process on the host.
TEST_F(AgentTest, AnotherGuestsSocketServesNobody)
{
  const auto [g1, g2] = unified_guests();
  start_agent();
  ASSERT_TRUE(wait_for_socket("g2", true)) << m_agent->log();
  const std::string a = call_from(g1, "g2", request(Verb::release, {k_tool}));
  EXPECT_TRUE(a.starts_with("error")) << a;
  EXPECT_NE(a.find("is not the root of guest g2"), std::string::npos) << a;
  const auto host = agent::call(socket_dir("g2") + "/agent.sock", request(Verb::release, {k_tool}), 10s);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->outcome, Outcome::error);
  EXPECT_TRUE(has_immutable_flag(g1 + k_tool));
  EXPECT_TRUE(has_immutable_flag(g2 + k_tool));
  EXPECT_TRUE(m_agent->alive());
}

// A user of the guest other than its root (uid 1000 inside it, the root
// directory being root's) is not served, even on the guest's own socket.
TEST_F(AgentTest, OnlyTheGuestsRootUserIsServed)
{
  const auto [g1, g2] = unified_guests();
  start_agent();
  ASSERT_TRUE(wait_for_socket("g1", true)) << m_agent->log();
  const std::string a = inside_guest(g1, socket_dir("g1"), [] {
    if (::setgid(1000) != 0 || ::setuid(1000) != 0) {
      return std::string("setuid: ") + std::strerror(errno);
    }
    return show(agent::call("/run/pkgunify/agent.sock", request(Verb::release, {k_tool}), 10s));
  });
  EXPECT_TRUE(a.starts_with("error")) << a;
  EXPECT_NE(a.find("not the root user of guest g1"), std::string::npos) << a;
  EXPECT_TRUE(has_immutable_flag(g1 + k_tool));
  EXPECT_EQ(stat_path(g1 + k_tool).ino, stat_path(g2 + k_tool).ino);
}

namespace {

// Raw bytes to a socket from inside a guest; what comes back.
std::string
send_raw(const std::string& bytes, bool shut)
{
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, "/run/pkgunify/agent.sock");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return std::string("connect: ") + std::strerror(errno);
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (shut) {
    ::shutdown(fd, SHUT_WR);
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) {
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

// Garbage, an oversized request, a flood of connections that send nothing
// and one that never finishes its request: each gets an error or is cut
// off, and the agent goes on serving guest 2 meanwhile.
TEST_F(AgentTest, GarbageFloodsAndSlowClientsDoNotStopTheAgent)
{
  const auto [g1, g2] = unified_guests();
  start_agent({"--request-timeout", "2"});
  ASSERT_TRUE(wait_for_socket("g1", true)) << m_agent->log();
  ASSERT_TRUE(wait_for_socket("g2", true));

  const std::string garbage =
    inside_guest(g1, socket_dir("g1"), [] { return send_raw("GET / HTTP/1.0\r\n\r\n", true); });
  EXPECT_TRUE(garbage.starts_with("pkgunify-agent/1 error\nerror bad request: ")) << garbage;
  const std::string big = inside_guest(g1, socket_dir("g1"), [] { return send_raw(std::string(3 << 20, 'x'), true); });
  EXPECT_NE(big.find("longer than 1048576 bytes"), std::string::npos) << big;
  // Slow: the request is never finished; it is answered after the limit.
  const auto t0 = std::chrono::steady_clock::now();
  const std::string slow = inside_guest(g1, socket_dir("g1"), [] { return send_raw("pkgunify-agent/1\0"s, false); });
  EXPECT_NE(slow.find("not complete within 2 s"), std::string::npos) << slow;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);

  // A flood: 40 connections held open from inside guest 1, while guest 2
  // is served.
  int ready[2];
  int stop[2];  // closed by the test: the flood ends
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(stop), 0);
  const pid_t flooder = ::fork();
  if (flooder == 0) {
    ::close(stop[1]);
    inside_guest(g1, socket_dir("g1"), [&] {
      std::vector<int> held;
      for (int i = 0; i < 40; ++i) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, "/run/pkgunify/agent.sock");
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
        held.push_back(fd);
      }
      (void)!::write(ready[1], "x", 1);
      char end;
      (void)!::read(stop[0], &end, 1);
      return std::string();
    });
    ::_exit(0);
  }
  char x;
  ASSERT_EQ(::read(ready[0], &x, 1), 1);
  const auto t1 = std::chrono::steady_clock::now();
  const std::string served = call_from(g2, "g2", request(Verb::release, {k_tool}));
  EXPECT_TRUE(served.starts_with("ok")) << served;
  EXPECT_EQ(count_of(served, "released"), 1u) << served;
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 10s);
  ::close(stop[1]);
  ::waitpid(flooder, nullptr, 0);
  ::close(stop[0]);
  ::close(ready[0]);
  ::close(ready[1]);
  EXPECT_TRUE(m_agent->alive());
  // And guest 1 is served again once its flood is gone.
  const std::string after = call_from(g1, "g1", request(Verb::status));
  EXPECT_TRUE(after.starts_with("ok")) << after;
  EXPECT_TRUE(has_immutable_flag(g1 + k_tool));
}

// Guests added to and removed from the registry are served and dropped
// without a restart.
TEST_F(AgentTest, TheRegistryIsFollowedWithoutARestart)
{
  const std::string g1 = add_guest("g1");
  start_agent();
  ASSERT_TRUE(wait_for_socket("g1", true)) << m_agent->log();
  const std::string g2 = add_guest("g2");
  scan_guests({g1, g2});
  EXPECT_TRUE(wait_for_socket("g2", true, 5s)) << m_agent->log();
  ::unlink(path("guests.d/g1.yaml").c_str());
  EXPECT_TRUE(wait_for_socket("g1", false, 5s)) << m_agent->log();
  // A socket the guest removed (its directory mounted writable) comes back.
  ::unlink((socket_dir("g2") + "/agent.sock").c_str());
  ::kill(m_agent->pid(), SIGHUP);
  EXPECT_TRUE(wait_for_socket("g2", true, 5s)) << m_agent->log();
  const std::string st = call_from(g2, "g2", request(Verb::status));
  EXPECT_TRUE(st.starts_with("ok")) << st;
  const int status = m_agent->stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_FALSE(exists(socket_dir("g2") + "/agent.sock"));
  EXPECT_TRUE(exists(socket_dir("g2")));   // kept for the bind mounts of containers that start meanwhile
  EXPECT_FALSE(exists(socket_dir("g1")));  // removed with its guest
}

}  // namespace pkgunify::itest
