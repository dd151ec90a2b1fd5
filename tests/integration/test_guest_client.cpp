// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify-guest, the client inside guests (guest-client/, pkgunify-guest(1)):
// the real binary against a test agent, a thread listening on a Unix socket
// that decodes each request (guest/agent_protocol.hpp) and gives a set
// answer. Each command sends the request the protocol says, prints counts
// and failures, and exits with the documented status; hooks always exit 0,
// say one line without an agent and nothing with PKGUNIFY_HOOKS=off;
// dpkg-pre, run the way dpkg runs a hook (dpkg -> sh -c -> the hook line of
// dpkg-hook/pkgunify-guest.dpkg.cfg -> the client) under a process called
// dpkg, sends that process's argument vector and working directory. The
// binary is static.
#include "guest/agent_protocol.hpp"
#include "sys/fd.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

extern char** environ;

namespace {

using namespace pkgunify;
using namespace pkgunify::agent;
namespace fs = std::filesystem;

const std::string k_client = PKGUNIFY_GUEST_BINARY;

// A test agent: accepts connections until stopped, records each request and
// sends `answer` (or nothing at all with `silent`, to test timeouts).
class TestAgent
{
public:
  explicit TestAgent(std::string path) : m_path(std::move(path))
  {
    m_listener = sys::Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, m_path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(m_listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::listen(m_listener.get(), 8) != 0) {
      ADD_FAILURE() << "cannot listen on " << m_path << ": " << std::strerror(errno);
    }
    m_thread = std::thread([this] { serve(); });
  }
  TestAgent(const TestAgent&) = delete;
  TestAgent& operator=(const TestAgent&) = delete;
  ~TestAgent()
  {
    m_stop = true;
    m_thread.join();
    ::unlink(m_path.c_str());
  }

  void
  set_answer(Answer a)
  {
    std::lock_guard lock(m_mutex);
    m_answer = std::move(a);
  }
  void
  set_silent()
  {
    m_silent = true;
  }
  std::vector<Request>
  requests()
  {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }
  std::size_t
  connections()
  {
    std::lock_guard lock(m_mutex);
    return m_connections;
  }

private:
  void
  serve()
  {
    while (!m_stop) {
      pollfd p{m_listener.get(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        continue;
      }
      sys::Fd c(::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) {
        continue;
      }
      std::string bytes;
      char buf[65536];
      for (ssize_t n; (n = ::read(c.get(), buf, sizeof(buf))) > 0;) {
        bytes.append(buf, static_cast<std::size_t>(n));
      }
      std::lock_guard lock(m_mutex);
      ++m_connections;
      auto r = decode_request(bytes);
      if (!r) {
        ADD_FAILURE() << "the client sent a bad request: " << r.error().message;
        continue;
      }
      m_requests.push_back(*r);
      if (m_silent) {
        m_held.push_back(std::move(c));  // never answered, closed at the end
        continue;
      }
      const std::string out = encode(m_answer);
      (void)!::write(c.get(), out.data(), out.size());
    }
  }

  std::string m_path;
  sys::Fd m_listener;
  std::thread m_thread;
  std::atomic<bool> m_stop{false};
  std::atomic<bool> m_silent{false};
  std::mutex m_mutex;
  Answer m_answer;
  std::vector<Request> m_requests;
  std::vector<sys::Fd> m_held;
  std::size_t m_connections = 0;
};

struct Proc
{
  int status = -1;
  std::string out;
  std::string err;
};

struct RunOptions
{
  std::vector<std::string> env;  // NAME=VALUE added to the environment
  std::string cwd;
  std::string stdin_data;
};

// Reads both pipes until both are closed.
void
drain(int out_fd, int err_fd, Proc& p)
{
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open = 2;
  char buf[65536];
  while (open > 0 && ::poll(fds, 2, 60000) > 0) {
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
      } else {
        (i == 0 ? p.out : p.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
}

// Runs argv with stdout and stderr apart, the environment without
// PKGUNIFY_HOOKS and PKGUNIFY_AGENT_SOCKET (the test suite sets the first
// for its own package-manager runs) but for `o.env`.
Proc
run(const std::vector<std::string>& argv, const RunOptions& o = {})
{
  const std::string input = fs::temp_directory_path() / ("pkgunify-guest-stdin." + std::to_string(::getpid()));
  std::ofstream(input, std::ios::binary) << o.stdin_data;
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string_view v = *e;
    if (!v.starts_with("PKGUNIFY_HOOKS=") && !v.starts_with("PKGUNIFY_AGENT_SOCKET=")) {
      env.emplace_back(v);
    }
  }
  env.insert(env.end(), o.env.begin(), o.env.end());
  int out[2], err[2];
  EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
  EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(input.c_str(), O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) {
      ::_exit(126);
    }
    std::vector<char*> args, envp;
    for (const auto& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    for (const auto& e : env) {
      envp.push_back(const_cast<char*>(e.c_str()));
    }
    args.push_back(nullptr);
    envp.push_back(nullptr);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  Proc p;
  drain(out[0], err[0], p);
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  p.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  ::unlink(input.c_str());
  return p;
}

std::size_t
lines(const std::string& s)
{
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

class GuestClientTest : public ::testing::Test
{
protected:
  void
  SetUp() override
  {
    char tmpl[] = "/tmp/pkgunify-guest-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    m_dir = tmpl;
    m_socket = m_dir + "/agent.sock";
  }
  void
  TearDown() override
  {
    std::error_code ec;
    fs::remove_all(m_dir, ec);
  }

  // The client with --socket.
  Proc
  client(std::vector<std::string> args, RunOptions o = {})
  {
    args.insert(args.begin(), {k_client, "--socket", m_socket});
    return run(args, o);
  }

  static Answer
  answer(Outcome outcome, std::vector<std::pair<std::string, std::uint64_t>> counts = {})
  {
    Answer a;
    a.outcome = outcome;
    a.counts = std::move(counts);
    return a;
  }

  std::string m_dir;
  std::string m_socket;
};

TEST_F(GuestClientTest, ReleaseSendsAbsolutePathsAndPrintsTheCounts)
{
  TestAgent agent(m_socket);
  agent.set_answer(answer(Outcome::ok, {{"released", 2}}));
  fs::create_directories(m_dir + "/work");
  RunOptions o;
  o.cwd = m_dir + "/work";
  const Proc p = client({"release", "/usr/bin/demo-tool", "lib/demo.so"}, o);
  EXPECT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(p.out, "pkgunify-guest: released 2\n");
  EXPECT_EQ(p.err, "");
  const auto rs = agent.requests();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].verb, Verb::release);
  EXPECT_EQ(rs[0].args, (std::vector<std::string>{"/usr/bin/demo-tool", m_dir + "/work/lib/demo.so"}));
  EXPECT_FALSE(rs[0].wait);
}

TEST_F(GuestClientTest, ReleasePackagesMakesPackageFilesAbsoluteAndKeepsNames)
{
  TestAgent agent(m_socket);
  agent.set_answer(answer(Outcome::ok, {{"released", 7}, {"packages", 2}}));
  RunOptions o;
  o.cwd = m_dir;
  const Proc p = client({"release-packages", "--hook", "demo", "demo_2.0_all.deb", "sub/other-1.0.noarch.rpm"}, o);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.out, "") << "a hook prints no counts";
  EXPECT_EQ(p.err, "");
  const auto rs = agent.requests();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].verb, Verb::release_packages);
  EXPECT_EQ(rs[0].args,
            (std::vector<std::string>{"demo", m_dir + "/demo_2.0_all.deb", m_dir + "/sub/other-1.0.noarch.rpm"}));
  const Proc counted = client({"release-packages", "demo"});
  EXPECT_EQ(counted.out, "pkgunify-guest: released 7, packages 2\n");
}

TEST_F(GuestClientTest, OutcomesGiveTheDocumentedExitStatus)
{
  TestAgent agent(m_socket);
  Answer failed = answer(Outcome::failed, {{"released", 1}});
  failed.failures = {"/usr/bin/a: Operation not permitted", "/usr/bin/b: No space left on device"};
  agent.set_answer(failed);
  Proc p = client({"release", "/usr/bin/a", "/usr/bin/b", "/usr/bin/c"});
  EXPECT_EQ(p.status, 1);
  EXPECT_EQ(p.err, "pkgunify-guest: /usr/bin/a: Operation not permitted\n"
                   "pkgunify-guest: /usr/bin/b: No space left on device\n");
  EXPECT_EQ(p.out, "pkgunify-guest: released 1\n");

  agent.set_answer(answer(Outcome::busy));
  p = client({"sync"});
  EXPECT_EQ(p.status, 1);
  EXPECT_EQ(lines(p.err), 1u) << p.err;
  EXPECT_NE(p.err.find("is busy"), std::string::npos) << p.err;

  Answer refused = answer(Outcome::error);
  refused.errors = {"the peer's root is not the root of guest g1"};
  agent.set_answer(refused);
  p = client({"status"});
  EXPECT_EQ(p.status, 2);
  EXPECT_EQ(p.err, "pkgunify-guest: the peer's root is not the root of guest g1\n");

  agent.set_answer(answer(Outcome::queued));
  p = client({"sync", "--db", "rpm"});
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.out, "pkgunify-guest: queued\n");

  agent.set_answer(answer(Outcome::busy));
  p = client({"sync", "--hook", "--db", "dpkg"});
  EXPECT_EQ(p.status, 0) << "a hook exits 0 whatever the answer";
  EXPECT_EQ(p.err, "pkgunify-guest: the pkgunify agent at " + m_socket
                     + " is busy with this guest; try again later: dpkg goes on without pkgunify\n");
}

TEST_F(GuestClientTest, SyncUnifyAndStatusSendTheirOptions)
{
  TestAgent agent(m_socket);
  agent.set_answer(answer(Outcome::ok, {{"unified", 4}}));
  Proc p = client({"sync", "--wait", "--db=rpm"});
  EXPECT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(p.out, "pkgunify-guest: unified 4\n");
  RunOptions records;
  records.stdin_data = std::string("F/usr/bin/demo-tool\0C/etc/demo.conf\0F/usr/lib/demo.so\0", 54);
  p = client({"unify", "--wait"}, records);
  EXPECT_EQ(p.status, 0) << p.err;
  Answer status = answer(Outcome::ok);
  status.text = {"guest g1: root /vservers/g1", "link mode immutable, 1200 unified files"};
  agent.set_answer(status);
  p = client({"--quiet", "status"});
  EXPECT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(p.out, "guest g1: root /vservers/g1\nlink mode immutable, 1200 unified files\n");

  const auto rs = agent.requests();
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].verb, Verb::sync);
  EXPECT_TRUE(rs[0].wait);
  EXPECT_EQ(rs[0].db, "rpm");
  EXPECT_TRUE(rs[0].args.empty());
  EXPECT_EQ(rs[1].verb, Verb::unify);
  EXPECT_TRUE(rs[1].wait);
  EXPECT_EQ(rs[1].args, (std::vector<std::string>{"F/usr/bin/demo-tool", "C/etc/demo.conf", "F/usr/lib/demo.so"}));
  EXPECT_EQ(rs[2].verb, Verb::status);
  EXPECT_FALSE(rs[2].wait);
}

TEST_F(GuestClientTest, BadRecordsAndBadUsageAreStatusTwoAndSendNothing)
{
  TestAgent agent(m_socket);
  agent.set_answer(answer(Outcome::ok));
  RunOptions bad;
  bad.stdin_data = std::string("F/usr/bin/a\0X/etc/b\0", 20);
  Proc p = client({"unify"}, bad);
  EXPECT_EQ(p.status, 2);
  EXPECT_NE(p.err.find("standard input: record 2 is not \"F/path\" or \"C/path\""), std::string::npos) << p.err;
  for (const auto& args : std::vector<std::vector<std::string>>{{},
                                                                {"frobnicate"},
                                                                {"release"},
                                                                {"status", "extra"},
                                                                {"release", "--wait", "/a"},
                                                                {"sync", "--db", "yum"},
                                                                {"status", "--timeout", "0"},
                                                                {"status", "--bogus"}}) {
    p = client(args);
    EXPECT_EQ(p.status, 2) << testing::PrintToString(args) << ": " << p.err;
    EXPECT_NE(p.err.find("pkgunify-guest: "), std::string::npos) << p.err;
  }
  // A hook exits 0 even then; the message says what is wrong.
  p = client({"status", "--hook"});
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.err, "pkgunify-guest: status takes no --hook\n");
  EXPECT_EQ(agent.connections(), 0u);
  p = run({k_client, "--help"});
  EXPECT_EQ(p.status, 0);
  EXPECT_NE(p.out.find("Exit status: 0 done or queued"), std::string::npos);
  p = run({k_client, "--version"});
  EXPECT_EQ(p.status, 0);
  EXPECT_TRUE(p.out.starts_with("pkgunify-guest ")) << p.out;
}

TEST_F(GuestClientTest, WithoutAnAgentStatusThreeAndAHookSaysOneLine)
{
  Proc p = client({"release", "/usr/bin/demo-tool"});
  EXPECT_EQ(p.status, 3);
  EXPECT_EQ(p.err, "pkgunify-guest: no pkgunify agent at " + m_socket + " (No such file or directory)\n");
  p = client({"sync", "--hook", "--db", "dpkg"});
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.err, "pkgunify-guest: no pkgunify agent at " + m_socket
                     + " (No such file or directory): dpkg goes on without pkgunify\n");
  EXPECT_EQ(p.out, "");
  // The default socket comes from PKGUNIFY_AGENT_SOCKET; a socket file
  // nobody listens on is refused.
  {
    TestAgent gone(m_socket);
  }
  sys::Fd stale(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, m_socket.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::bind(stale.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  RunOptions o;
  o.env = {"PKGUNIFY_AGENT_SOCKET=" + m_socket};
  p = run({k_client, "release-packages", "--hook", "demo"}, o);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.err, "pkgunify-guest: no pkgunify agent at " + m_socket
                     + " (Connection refused): the package manager goes on without pkgunify\n");
  p = run({k_client, "status"}, o);
  EXPECT_EQ(p.status, 3);
}

TEST_F(GuestClientTest, HooksOffDoesNothingAtAll)
{
  TestAgent agent(m_socket);
  agent.set_answer(answer(Outcome::ok, {{"released", 1}}));
  RunOptions off;
  off.env = {"PKGUNIFY_HOOKS=off"};
  for (const auto& args : std::vector<std::vector<std::string>>{
         {"release", "--hook", "/usr/bin/a"}, {"dpkg-pre", "--hook"}, {"sync", "--hook", "--db", "dpkg"}}) {
    const Proc p = client(args, off);
    EXPECT_EQ(p.status, 0);
    EXPECT_EQ(p.out + p.err, "") << testing::PrintToString(args);
  }
  EXPECT_EQ(agent.connections(), 0u);
  // Without --hook the command was asked for by hand and runs.
  const Proc p = client({"release", "/usr/bin/a"}, off);
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(agent.connections(), 1u);
}

TEST_F(GuestClientTest, AnAgentThatDoesNotAnswerInTimeIsStatusOne)
{
  TestAgent agent(m_socket);
  agent.set_silent();
  const auto start = std::chrono::steady_clock::now();
  Proc p = client({"--timeout", "1", "status"});
  EXPECT_EQ(p.status, 1);
  EXPECT_EQ(p.err, "pkgunify-guest: the pkgunify agent at " + m_socket + " did not answer within 1 s\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  p = client({"--timeout=1", "sync", "--hook"});
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(lines(p.err), 1u) << p.err;
}

// The hook lines of dpkg-hook/pkgunify-guest.dpkg.cfg with the client of
// this build in place of /usr/bin/pkgunify-guest.
std::string
hook_line(const std::string& which)
{
  std::ifstream in(std::string(PKGUNIFY_SOURCE_DIR) + "/dpkg-hook/pkgunify-guest.dpkg.cfg");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(which + "=")) {
      line.erase(0, which.size() + 1);
      for (std::size_t at; (at = line.find("/usr/bin/pkgunify-guest")) != std::string::npos;) {
        line.replace(at, std::strlen("/usr/bin/pkgunify-guest"), k_client);
      }
      return line;
    }
  }
  ADD_FAILURE() << "no " << which << " line in dpkg-hook/pkgunify-guest.dpkg.cfg";
  return "false";
}

// Runs `line` as dpkg runs a hook: from a process called dpkg (a link to
// /bin/sh by that name: /proc/PID/comm is the name it was started by),
// through `sh -c`, with DPKG_ROOT set. Gives that dpkg's argument vector.
std::vector<std::string>
as_dpkg_hook(const std::string& dir, const std::string& line, const std::string& dpkg_root, Proc& p,
             const std::vector<std::string>& env = {}, const std::vector<std::string>& dpkg_args = {"-i", "x.deb"})
{
  const std::string dpkg = dir + "/bin/dpkg";
  fs::create_directories(dir + "/bin");
  if (!fs::is_symlink(dpkg)) {
    fs::create_symlink("/bin/sh", dpkg);
  }
  std::vector<std::string> argv = {dpkg, "-c", "sh -c \"$HOOK\"; echo \"hook done\""};
  argv.emplace_back("dpkg");  // $0
  argv.insert(argv.end(), dpkg_args.begin(), dpkg_args.end());
  RunOptions o;
  o.cwd = dir;
  o.env = env;
  o.env.push_back("HOOK=" + line);
  o.env.push_back("DPKG_ROOT=" + dpkg_root);
  p = run(argv, o);
  return argv;
}

TEST_F(GuestClientTest, DpkgPreSendsTheCommandLineAndDirectoryOfTheDpkgAbove)
{
  TestAgent agent(m_socket);
  agent.set_answer(answer(Outcome::ok, {{"released", 3}}));
  const std::vector<std::string> sock = {"PKGUNIFY_AGENT_SOCKET=" + m_socket};
  Proc p;
  const auto argv = as_dpkg_hook(m_dir, hook_line("pre-invoke"), "", p, sock,
                                 {"--status-fd", "7", "--unpack", "demo_2.0_all.deb", "/var/cache/x_1.0_all.deb"});
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(p.out, "hook done\n");
  EXPECT_EQ(p.err, "");
  auto rs = agent.requests();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].verb, Verb::dpkg_release);
  EXPECT_EQ(rs[0].args, argv) << "the argument vector of the process called dpkg";
  EXPECT_EQ(rs[0].cwd, fs::canonical(m_dir).string());

  // DPKG_ROOT=/: still the guest's own run; another root: none of its runs.
  as_dpkg_hook(m_dir, hook_line("pre-invoke"), "/", p, sock);
  EXPECT_EQ(agent.requests().size(), 2u);
  as_dpkg_hook(m_dir, hook_line("pre-invoke"), "/srv/other-root", p, sock);
  as_dpkg_hook(m_dir, hook_line("post-invoke"), "/srv/other-root", p, sock);
  as_dpkg_hook(m_dir, hook_line("pre-invoke"), "", p, {sock[0], "PKGUNIFY_HOOKS=off"});
  EXPECT_EQ(p.out + p.err, "hook done\n");
  EXPECT_EQ(agent.requests().size(), 2u) << "DPKG_ROOT=/srv/other-root and PKGUNIFY_HOOKS=off send nothing";

  as_dpkg_hook(m_dir, hook_line("post-invoke"), "", p, sock);
  EXPECT_EQ(p.out + p.err, "hook done\n");
  rs = agent.requests();
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[2].verb, Verb::sync);
  EXPECT_EQ(rs[2].db, "dpkg");
  EXPECT_FALSE(rs[2].wait);
}

TEST_F(GuestClientTest, HookLinesNeverFailDpkgAndSayOneLineWithoutAnAgent)
{
  const std::vector<std::string> sock = {"PKGUNIFY_AGENT_SOCKET=" + m_socket};
  for (const char* which : {"pre-invoke", "post-invoke"}) {
    Proc p;
    as_dpkg_hook(m_dir, hook_line(which), "", p, sock);
    EXPECT_EQ(p.status, 0);
    EXPECT_EQ(p.out, "hook done\n");
    EXPECT_EQ(p.err, "pkgunify-guest: no pkgunify agent at " + m_socket
                       + " (No such file or directory): dpkg goes on without pkgunify\n")
      << which;
  }
}

TEST_F(GuestClientTest, DpkgPreWithoutDpkgAbove)
{
  TestAgent agent(m_socket);
  Proc p = client({"dpkg-pre"});
  EXPECT_EQ(p.status, 2);
  EXPECT_NE(p.err.find("no dpkg process above this one"), std::string::npos) << p.err;
  p = client({"dpkg-pre", "--hook"});
  EXPECT_EQ(p.status, 0);
  EXPECT_EQ(lines(p.err), 1u) << p.err;
  EXPECT_EQ(agent.connections(), 0u);
}

// A dpkg command line longer than one request: each part repeats dpkg's
// name and the options before its arguments, so that the host reads every
// argument as dpkg does.
TEST_F(GuestClientTest, ALongDpkgCommandLineIsSplitKeepingItsOptions)
{
  TestAgent agent(m_socket);
  agent.set_answer(answer(Outcome::ok, {{"released", 1}}));
  std::vector<std::string> args = {"--status-fd", "7", "--unpack"};
  for (int i = 0; i < 15000; ++i) {
    args.push_back("/var/cache/apt/archives/partial/some-long-package-name-" + std::to_string(i) + "_1.0-1_amd64.deb");
  }
  args.insert(args.begin() + 6003, "--remove");
  Proc p;
  const auto argv = as_dpkg_hook(m_dir, hook_line("pre-invoke"), "", p, {"PKGUNIFY_AGENT_SOCKET=" + m_socket}, args);
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(p.err, "");
  const auto rs = agent.requests();
  ASSERT_GE(rs.size(), 2u);
  std::vector<std::string> options;
  std::vector<std::string> joined = {argv[0]};
  for (const auto& r : rs) {
    EXPECT_EQ(r.verb, Verb::dpkg_release);
    EXPECT_LE(encode(r).size(), k_max_request);
    ASSERT_GT(r.args.size(), 1 + options.size());
    EXPECT_EQ(r.args[0], argv[0]);
    const std::vector<std::string> replayed(r.args.begin() + 1, r.args.begin() + 1 + options.size());
    EXPECT_EQ(replayed, options) << "each part repeats the options before it";
    for (auto a = r.args.begin() + 1 + options.size(); a != r.args.end(); ++a) {
      joined.push_back(*a);
      if (a->starts_with('-')) {
        options.push_back(*a);
      }
    }
  }
  EXPECT_EQ(joined, argv);
}

TEST(GuestClientBinary, IsStaticallyLinked)
{
#ifdef PKGUNIFY_SANITIZED
  GTEST_SKIP() << "sanitizer builds link the client dynamically (no static sanitizer runtimes)";
#endif
  const Proc readelf = run({"/usr/bin/readelf", "--dynamic", "--program-headers", k_client});
  if (readelf.status == 127) {
    GTEST_SKIP() << "readelf is not installed";
  }
  ASSERT_EQ(readelf.status, 0) << readelf.err;
  EXPECT_EQ(readelf.out.find("(NEEDED)"), std::string::npos) << readelf.out;
  EXPECT_EQ(readelf.out.find("INTERP"), std::string::npos) << "no dynamic loader: " << readelf.out;
  const Proc file = run({"/usr/bin/file", "-b", k_client});
  if (file.status == 0) {
    EXPECT_TRUE(file.out.find("static-pie linked") != std::string::npos
                || file.out.find("statically linked") != std::string::npos)
      << file.out;
  }
  // It runs with nothing but itself: in an empty root, as a guest of any
  // release would run it.
  if (::geteuid() == 0) {
    char tmpl[] = "/tmp/pkgunify-guest-root.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string root = tmpl;
    fs::create_directories(root + "/usr/bin");
    fs::copy_file(k_client, root + "/usr/bin/pkgunify-guest");
    const Proc in_root = run({"/usr/sbin/chroot", root, "/usr/bin/pkgunify-guest", "status"});
    EXPECT_EQ(in_root.status, 3) << in_root.out << in_root.err;
    EXPECT_EQ(in_root.err, "pkgunify-guest: no pkgunify agent at /run/pkgunify/agent.sock (No such file or "
                           "directory)\n");
    fs::remove_all(root);
  }
}

}  // namespace
