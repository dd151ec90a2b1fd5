// SPDX-License-Identifier: GPL-2.0-or-later
// GuestRunner and GuestProcess of guest_tools.hpp: commands inside a guest
// through chroot or systemd-nspawn.
#include "guest_tools.hpp"

#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace pkgunify::itest {

namespace {

const char* const k_guest_env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
                                   "LC_ALL=C", "TERM=dumb"};

// Run by the host's sh in the new mount namespace: $1 the root, $2 the
// command, then HOST GUEST ro|rw for each bind. The mounts are private to
// the namespace (unshare --propagation private) and go with it.
const char* const k_chroot_script = R"(set -eu
root=$1 cmd=$2
shift 2
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t tmpfs -o nosuid,noexec,mode=0755,size=4m pkgunify-dev "$root/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  n=${d%%:*} r=${d#*:}
  mknod -m 0666 "$root/dev/$n" c "${r%:*}" "${r#*:}"
done
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=16m pkgunify-shm "$root/dev/shm"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
while [ $# -ge 3 ]; do
  mount --bind "$1" "$root$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$root$2"; fi
  shift 3
done
exec setpriv --bounding-set -linux_immutable --inh-caps -linux_immutable chroot "$root" /bin/sh -c "$cmd"
)";

// `rel` (absolute inside the guest) as directories beneath `root`, each
// component a directory and none a symlink; missing ones are made when
// `create`.
void
check_dir_beneath(const std::string& root, const std::string& rel, bool create)
{
  if (!rel.starts_with("/") || rel.find("/..") != std::string::npos || rel.find(':') != std::string::npos) {
    throw std::runtime_error("guest path " + rel + ": not absolute, or with '..' or ':'");
  }
  std::string path = root;
  std::size_t start = 1;
  while (start < rel.size()) {
    const auto end = rel.find('/', start);
    const std::string name = rel.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? rel.size() : end + 1;
    if (name.empty() || name == ".") {
      continue;
    }
    path += "/" + name;
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 && create && ::mkdir(path.c_str(), 0755) == 0) {
      continue;
    }
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw std::runtime_error("mount point " + path + " is no directory (a symlink or missing)");
    }
  }
}

std::string
machine_name()
{
  static std::atomic<unsigned> counter{0};
  return "pkgunify-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// The parent of every process, from /proc/PID/stat.
std::map<pid_t, pid_t>
parent_map()
{
  std::map<pid_t, pid_t> parents;
  DIR* d = ::opendir("/proc");
  if (!d) {
    throw std::runtime_error("cannot read /proc");
  }
  while (const dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) {
      continue;
    }
    std::string stat;
    try {
      stat = read_file("/proc/" + std::string(e->d_name) + "/stat");
    } catch (const std::exception&) {
      continue;  // gone meanwhile
    }
    // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 4 > stat.size()) {
      continue;
    }
    parents[static_cast<pid_t>(pid)] = static_cast<pid_t>(std::strtol(stat.c_str() + close + 4, nullptr, 10));
  }
  ::closedir(d);
  return parents;
}

}  // namespace

std::string
runtime_name(Runtime runtime)
{
  return runtime == Runtime::chroot ? "chroot" : "nspawn";
}

GuestRunner::GuestRunner(Runtime runtime, std::string root) : m_runtime(runtime), m_root(std::move(root)) {}

std::string
GuestRunner::unavailable(Runtime runtime)
{
  if (::geteuid() != 0) {
    return "running commands inside guests needs root";
  }
  if (runtime == Runtime::nspawn) {
    if (!have_tool("systemd-nspawn")) {
      return "systemd-nspawn is not installed (Debian: systemd-container)";
    }
    return missing_tool({"env"});
  }
  return missing_tool({"env", "unshare", "setpriv", "chroot", "mount", "mknod"});
}

void
GuestRunner::bind(const std::string& host, const std::string& guest, bool read_only)
{
  if (!host.starts_with("/") || host.find(':') != std::string::npos) {
    throw std::runtime_error("bind source " + host + ": not absolute, or with ':'");
  }
  check_dir_beneath(m_root, guest, true);
  m_binds.push_back({host, guest, read_only});
}

void
GuestRunner::check_mount_points() const
{
  if (m_runtime != Runtime::chroot) {
    return;
  }
  for (const char* d : {"/proc", "/dev"}) {
    check_dir_beneath(m_root, d, false);
  }
  for (const auto& b : m_binds) {
    check_dir_beneath(m_root, b.guest, false);
  }
}

std::vector<std::string>
GuestRunner::chroot_argv(const std::string& cmd) const
{
  std::vector<std::string> a{"env", "-i"};
  a.insert(a.end(), std::begin(k_guest_env), std::end(k_guest_env));
  a.insert(a.end(), {"unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", k_chroot_script,
                     "pkgunify-guest", m_root, cmd});
  for (const auto& b : m_binds) {
    a.insert(a.end(), {b.host, b.guest, b.read_only ? "ro" : "rw"});
  }
  return a;
}

std::vector<std::string>
GuestRunner::nspawn_argv(const std::string& cmd) const
{
  std::vector<std::string> a{"env",
                             "-i",
                             k_guest_env[0],
                             "systemd-nspawn",
                             "--register=no",
                             "--keep-unit",
                             "--quiet",
                             "--machine=" + machine_name(),
                             "-D",
                             m_root,
                             "--pipe",
                             "--drop-capability=CAP_LINUX_IMMUTABLE",
                             "--resolv-conf=off",
                             "--timezone=off",
                             "--link-journal=no"};
  for (const char* e : k_guest_env) {
    a.push_back(std::string("--setenv=") + e);
  }
  for (const auto& b : m_binds) {
    a.push_back((b.read_only ? "--bind-ro=" : "--bind=") + b.host + ":" + b.guest);
  }
  a.insert(a.end(), {"--", "/bin/sh", "-c", cmd});
  return a;
}

std::vector<std::string>
GuestRunner::argv(const std::string& cmd) const
{
  // The command's stderr joins its stdout, in order.
  const std::string wrapped = "exec 2>&1\n" + cmd;
  return m_runtime == Runtime::chroot ? chroot_argv(wrapped) : nspawn_argv(wrapped);
}

ShellResult
GuestRunner::run(const std::string& cmd, int timeout_s) const
{
  check_mount_points();
  const RunResult r = run_command(argv(cmd), timeout_s);
  ShellResult out;
  out.status = r.exit_code;
  out.output = r.out;
  if (r.exit_code != 0) {
    out.output += r.err;
  }
  if (r.timed_out) {
    out.status = -1;
    out.output += "\n(" + runtime_name(m_runtime) + ": killed after " + std::to_string(timeout_s) + " s)";
  }
  return out;
}

GuestProcess
GuestRunner::start(const std::string& cmd, const std::string& log_file) const
{
  check_mount_points();
  const int log = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log < 0) {
    throw std::runtime_error("cannot create " + log_file);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<std::string> args = argv(cmd);
  std::vector<char*> av;
  for (auto& s : args) {
    av.push_back(s.data());
  }
  av.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, av[0], &actions, &attr, av.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(log);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + args[0]);
  }
  return GuestProcess(pid, log_file);
}

int
GuestProcess::stop()
{
  if (m_pid <= 0) {
    return -1;
  }
  const pid_t pid = m_pid;
  m_pid = -1;
  ::kill(-pid, SIGTERM);
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status;
}

std::string
GuestProcess::output() const
{
  return exists(m_log) ? read_file(m_log) : std::string{};
}

std::vector<pid_t>
processes_rooted_at(pid_t runner, const std::string& root)
{
  struct stat want;
  if (::stat(root.c_str(), &want) != 0) {
    throw std::runtime_error("cannot stat " + root);
  }
  const auto parents = parent_map();
  std::vector<pid_t> out;
  for (const auto& [pid, parent] : parents) {
    bool below = runner <= 0 || pid == runner;
    for (pid_t p = parent; !below && p > 1;) {
      below = p == runner;
      const auto it = parents.find(p);
      p = it == parents.end() ? 0 : it->second;
    }
    struct stat st;
    if (below && ::stat(("/proc/" + std::to_string(pid) + "/root").c_str(), &st) == 0 && st.st_dev == want.st_dev
        && st.st_ino == want.st_ino) {
      out.push_back(pid);
    }
  }
  return out;
}

CapSets
parse_cap_sets(const std::string& status_text)
{
  CapSets caps;
  const std::pair<const char*, std::uint64_t*> fields[] = {{"CapInh:", &caps.inh},
                                                           {"CapPrm:", &caps.prm},
                                                           {"CapEff:", &caps.eff},
                                                           {"CapBnd:", &caps.bnd},
                                                           {"CapAmb:", &caps.amb}};
  for (const auto& [name, value] : fields) {
    const auto at = status_text.find(std::string("\n") + name);
    if (at == std::string::npos) {
      throw std::runtime_error(std::string("no ") + name + " line in:\n" + status_text);
    }
    *value = std::strtoull(status_text.c_str() + at + 1 + std::string(name).size(), nullptr, 16);
  }
  return caps;
}

}  // namespace pkgunify::itest
