// SPDX-License-Identifier: GPL-2.0-or-later
// The guest registry end to end: guest add/remove/list, scan --all and
// status --all on guests spread over two loop-mounted ext4 filesystems, the
// CAP_LINUX_IMMUTABLE warning for real processes chrooted into a guest, and
// the agent field against a real listening socket.
#include "harness.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pkgunify::itest {
namespace {

class GuestsTest : public IntegrationTest
{
protected:
  void
  TearDown() override
  {
    for (const pid_t pid : m_pids) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    IntegrationTest::TearDown();
  }

  [[nodiscard]] std::string
  registry() const
  {
    return path("guests.d");
  }

  // `pkgunify ARGS... --guests-dir REGISTRY`, with the runtime directory
  // `runtime` when given.
  [[nodiscard]] RunResult
  guests_cmd(std::vector<std::string> args, const std::string& runtime = {}) const
  {
    args.insert(args.end(), {"--guests-dir", registry()});
    if (runtime.empty()) {
      return run_pkgunify(args);
    }
    args.insert(args.begin(), {"env", "PKGUNIFY_RUNTIME_DIR=" + runtime, PKGUNIFY_BINARY});
    return run_command(args);
  }

  void
  add(const std::string& name, const std::string& root)
  {
    const RunResult r = guests_cmd({"guest", "add", name, root});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
  }

  // The guest list entry of `name`.
  static Json
  listed(const Json& list, const std::string& name)
  {
    for (const auto& g : list.at("guests")) {
      if (g.at("name") == name) {
        return g;
      }
    }
    throw std::runtime_error("guest " + name + " is not listed: " + list.dump());
  }

  // /bin/sleep and the libraries it needs, copied into `root`.
  static void
  install_sleep(const std::string& root)
  {
    const RunResult r = run_command(
      {"sh", "-c",
       "set -e; for f in /bin/sleep $(ldd /bin/sleep | grep -o '/[^ ]*'); do cp --parents -L \"$f\" \"$0\"; done",
       root});
    if (r.exit_code != 0) {
      throw std::runtime_error("cannot copy sleep into " + root + ": " + r.describe());
    }
  }

  // Starts `argv` (which chroots into `root` and runs sleep there) and
  // waits until sleep runs in `root`; killed in TearDown.
  pid_t
  start_in(const std::vector<std::string>& argv, const std::string& root)
  {
    const pid_t pid = spawn_command(argv, STDERR_FILENO, STDERR_FILENO);
    m_pids.push_back(pid);
    const FileStat want = stat_path(root);
    const std::string proc_root = "/proc/" + std::to_string(pid) + "/root";
    for (int i = 0; i < 500; ++i) {
      struct stat st = {};
      if (::stat(proc_root.c_str(), &st) == 0 && st.st_dev == want.dev && st.st_ino == want.ino
          && read_file("/proc/" + std::to_string(pid) + "/comm") == "sleep\n") {
        return pid;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("pid " + std::to_string(pid) + " never entered " + root);
  }

private:
  std::vector<pid_t> m_pids;
};

// A listening Unix socket at `path` (its directory made), closed with it.
class Listener
{
public:
  explicit Listener(const std::string& path)
  {
    make_dirs(path.substr(0, path.rfind('/')), 0755);
    m_fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    if (m_fd < 0 || path.size() >= sizeof(addr.sun_path)) {
      throw std::runtime_error("cannot make a socket for " + path);
    }
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (::bind(m_fd, reinterpret_cast<const struct sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(m_fd, 8) != 0) {
      throw std::runtime_error("cannot listen on " + path + ": " + std::strerror(errno));
    }
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() { ::close(m_fd); }

private:
  int m_fd = -1;
};

TEST_F(GuestsTest, AddListRemove)
{
  const auto roots = make_roots(2);
  add("web", roots[0]);
  write_text(path("db.yaml"), "min_size: 1\n");
  RunResult r = guests_cmd({"guest", "add", "db", roots[1], "--policy", path("db.yaml"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.json().at("file"), registry() + "/db.yaml");
  EXPECT_EQ(r.json().at("policy"), path("db.yaml"));
  // Refusals: exit status 2, a message naming what is wrong.
  r = guests_cmd({"guest", "add", "web", roots[1]});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("guest web is registered already"), std::string::npos) << r.describe();
  r = guests_cmd({"guest", "add", "other", roots[0] + "/"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("is registered already, as guest web"), std::string::npos) << r.describe();
  r = guests_cmd({"guest", "add", "host", "/"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  r = guests_cmd({"guest", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  ASSERT_EQ(r.json().at("guests").size(), 2u);
  EXPECT_EQ(listed(r.json(), "db").at("policy"), path("db.yaml"));
  EXPECT_TRUE(listed(r.json(), "web").at("policy").is_null());
  r = guests_cmd({"guest", "remove", "db"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "removed guest db (" + registry() + "/db.yaml)\n");
  r = guests_cmd({"guest", "remove", "db"});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_EQ(list_dir(registry()), (std::vector<std::string>{"web.yaml"}));
  // A broken file is an error (exit status 1) and hides no other guest.
  write_text(registry() + "/bad.yaml", "root: /x\nroots: /y\n");
  r = guests_cmd({"guest", "list", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.json().at("guests").size(), 1u);
  EXPECT_NE(r.err.find(registry() + "/bad.yaml:2:1: unknown key 'roots'"), std::string::npos) << r.describe();
}

TEST_F(GuestsTest, ScanAllGivesEachFilesystemItsOwnStore)
{
  for (const char* fs : {"fs1", "fs2"}) {
    if (const std::string why = mount_fs("ext4", path(fs), 128); !why.empty()) {
      GTEST_SKIP() << why;
    }
  }
  const std::vector<std::string> roots{path("fs1/g1"), path("fs1/g2"), path("fs2/g3"), path("fs2/g4")};
  write_in_roots(roots, "usr/lib/libshared.so", sized_spec(5000, "shared"));
  write_in_roots(roots, "usr/bin/tool", sized_spec(3000, "tool"));
  for (std::size_t i = 0; i < roots.size(); ++i) {
    add("g" + std::to_string(i + 1), roots[i]);
  }
  // ROOT and --all exclude each other; neither is a usage error.
  EXPECT_EQ(guests_cmd({"scan", "--all", roots[0]}).exit_code, 2);
  EXPECT_EQ(run_pkgunify({"scan"}).exit_code, 2);

  RunResult r = guests_cmd({"scan", "--all", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json scan = r.json();
  ASSERT_EQ(scan.at("groups").size(), 2u) << scan.dump(2);
  for (int fs = 0; fs < 2; ++fs) {
    const Json& group = scan.at("groups").at(fs);
    const std::string store = path(fs == 0 ? "fs1" : "fs2") + "/.pkgunify-store";
    EXPECT_EQ(group.at("store"), store);
    EXPECT_EQ(group.at("guests"),
              Json(fs == 0 ? std::vector<std::string>{"g1", "g2"} : std::vector<std::string>{"g3", "g4"}));
    EXPECT_EQ(counter(group, "linked"), 4);
    EXPECT_EQ(counter(group, "objects_created"), 2);
    EXPECT_EQ(store_objects(store).size(), 2u);
    const std::string& a = roots[2 * fs];
    const std::string& b = roots[2 * fs + 1];
    for (const char* rel : {"/usr/lib/libshared.so", "/usr/bin/tool"}) {
      EXPECT_EQ(stat_path(a + rel).ino, stat_path(b + rel).ino) << rel;
      EXPECT_EQ(stat_path(a + rel).nlink, 3u) << rel;  // two guests and the store
      EXPECT_TRUE(object_with_inode(store, stat_path(a + rel).ino)) << rel;
    }
  }
  EXPECT_NE(stat_path(roots[0] + "/usr/bin/tool").dev, stat_path(roots[2] + "/usr/bin/tool").dev);

  r = guests_cmd({"status", "--all", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json status = r.json();
  ASSERT_EQ(status.at("groups").size(), 2u);
  for (const auto& group : status.at("groups")) {
    ASSERT_EQ(group.at("roots").size(), 2u);
    for (const auto& root : group.at("roots")) {
      EXPECT_EQ(counter(root, "unified_files"), 2) << root.dump();
    }
  }
  r = guests_cmd({"status", "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_NE(r.out.find("store " + path("fs2") + "/.pkgunify-store (guests g3, g4):\n"), std::string::npos) << r.out;

  r = guests_cmd({"guest", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json g3 = listed(r.json(), "g3");
  for (const char* field : {"name", "root", "policy", "file", "store", "unified_files", "unified_bytes", "agent",
                            "agent_socket", "warnings"}) {
    EXPECT_TRUE(g3.contains(field)) << field;
  }
  EXPECT_EQ(g3.at("root"), roots[2]);
  EXPECT_EQ(g3.at("store"), path("fs2") + "/.pkgunify-store");
  EXPECT_EQ(counter(g3, "unified_files"), 2);
  EXPECT_EQ(counter(g3, "unified_bytes"), 8000);
  EXPECT_EQ(g3.at("warnings"), Json::array());
}

TEST_F(GuestsTest, AProcessKeepingCapLinuxImmutableIsAWarning)
{
  if (!is_root()) {
    GTEST_SKIP() << "chroot needs root";
  }
  if (run_command({"sh", "-c", "command -v setpriv && command -v chroot && command -v ldd"}).exit_code != 0) {
    GTEST_SKIP() << "setpriv, chroot or ldd is not installed";
  }
  const auto roots = make_roots(2);
  for (const auto& root : roots) {
    install_sleep(root);
  }
  add("full", roots[0]);
  add("dropped", roots[1]);
  const pid_t full = start_in({"chroot", roots[0], "/bin/sleep", "300"}, roots[0]);
  start_in({"setpriv", "--bounding-set", "-linux_immutable", "chroot", roots[1], "/bin/sleep", "300"}, roots[1]);
  const RunResult r = guests_cmd({"guest", "list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();  // warnings are no failure
  EXPECT_EQ(listed(r.json(), "full").at("warnings"),
            Json::array({"pid " + std::to_string(full)
                         + " (sleep) in guest full keeps CAP_LINUX_IMMUTABLE in its "
                           "bounding set: it can lift the protection of shared files"}));
  EXPECT_EQ(listed(r.json(), "dropped").at("warnings"), Json::array());
  const RunResult text = guests_cmd({"guest", "list"});
  EXPECT_NE(text.out.find("  warning: pid " + std::to_string(full) + " (sleep) in guest full"), std::string::npos)
    << text.describe();
}

TEST_F(GuestsTest, TheAgentFieldSaysWhetherItsSocketIsServed)
{
  if (!is_root()) {
    GTEST_SKIP() << "a runtime directory of its own needs root";
  }
  const auto roots = make_roots(1);
  add("web", roots[0]);
  const std::string runtime = path("run");
  make_dirs(runtime, 0755);
  RunResult r = guests_cmd({"guest", "list", "--json"}, runtime);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json web = listed(r.json(), "web");
  EXPECT_EQ(web.at("agent"), "not served");
  EXPECT_EQ(web.at("agent_socket"), runtime + "/guests/web/agent.sock");
  {
    const Listener listener(runtime + "/guests/web/agent.sock");
    r = guests_cmd({"guest", "list", "--json"}, runtime);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(listed(r.json(), "web").at("agent"), "served");
  }
  // A socket file nobody listens on any more.
  r = guests_cmd({"guest", "list", "--json"}, runtime);
  EXPECT_EQ(listed(r.json(), "web").at("agent"), "not served");
  // A missing root is a warning, not a failure.
  ::rmdir(roots[0].c_str());
  r = guests_cmd({"guest", "list", "--json"}, runtime);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  web = listed(r.json(), "web");
  EXPECT_EQ(web.at("warnings"), Json::array({"the root " + roots[0] + " is missing (No such file or directory)"}));
}

}  // namespace
}  // namespace pkgunify::itest
