// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/background.hpp"

#include "guest/runtime.hpp"
#include "sys/fs.hpp"
#include "sys/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace pkgunify {

namespace {

std::string
fnv1a_hex(std::string_view text)
{
  std::uint64_t h = 14695981039346656037ULL;
  for (const unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, h);
  return buf;
}

// argv as execv wants it; built before fork, so that the child allocates
// nothing.
class Argv
{
public:
  explicit Argv(const std::vector<std::string>& args)
  {
    for (const auto& a : args) {
      m_ptrs.push_back(const_cast<char*>(a.c_str()));
    }
    m_ptrs.push_back(nullptr);
  }
  char* const*
  get() const
  {
    return m_ptrs.data();
  }

private:
  std::vector<char*> m_ptrs;
};

// A memory file holding `input`, positioned at its start.
sys::Fd
input_file(const std::string& input)
{
  sys::Fd fd(::memfd_create("pkgunify-input", MFD_CLOEXEC));
  if (!fd || !sys::write_all(fd.get(), input.data(), input.size(), "pkgunify input")
      || ::lseek(fd.get(), 0, SEEK_SET) != 0) {
    return {};
  }
  return fd;
}

// In a forked child: only async-signal-safe calls from here on. Puts `in` on
// 0, `out` on 1 and 2, `keep` (if any) on 3, closes everything else, and
// executes argv; exits 127 when that fails.
[[noreturn]] void
exec_child(char* const* argv, int in, int out, int keep)
{
  // First out of the way of 0..3 (any of them may be one of those).
  in = ::fcntl(in, F_DUPFD_CLOEXEC, 10);
  out = ::fcntl(out, F_DUPFD_CLOEXEC, 10);
  keep = keep >= 0 ? ::fcntl(keep, F_DUPFD_CLOEXEC, 10) : -2;
  if (in < 0 || out < 0 || keep == -1) {
    ::_exit(127);
  }
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(out, 2) < 0 || (keep >= 0 && ::dup2(keep, 3) < 0)) {
    ::_exit(127);
  }
  ::close_range(keep >= 0 ? 4 : 3, ~0U, 0);
  if (::chdir("/") != 0) {  // keep no directory of the caller busy
    ::_exit(127);
  }
  ::execv(argv[0], argv);
  ::_exit(127);
}

// The child's wait status; 0 when the caller ignores SIGCHLD (the kernel
// reaped the child already, and how it ended is unknown); -1 on failure.
int
wait_child(pid_t pid)
{
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno == ECHILD) {
      return 0;
    }
    if (errno != EINTR) {
      return -1;
    }
  }
  return status;
}

std::string
config_stamp_path(const std::string& policy_file)
{
  return runtime_dir_path() + "/config-" + fnv1a_hex(policy_file.empty() ? k_system_policy_path : policy_file)
         + ".checked";
}

// What a configuration check depends on, as one line.
std::string
config_fingerprint(const std::string& policy_file, const std::string& program)
{
  std::string out;
  auto add = [&out](const std::string& path, const char* what) {
    struct statx sx;
    out += what;
    if (::statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS, &sx) != 0) {
      out += " absent;";
      return;
    }
    char buf[160];
    std::snprintf(buf, sizeof(buf), " %u:%u %" PRIu64 " %" PRIu64 " %" PRId64 ".%u %" PRId64 ".%u;", sx.stx_dev_major,
                  sx.stx_dev_minor, static_cast<std::uint64_t>(sx.stx_ino), static_cast<std::uint64_t>(sx.stx_size),
                  static_cast<std::int64_t>(sx.stx_mtime.tv_sec), sx.stx_mtime.tv_nsec,
                  static_cast<std::int64_t>(sx.stx_ctime.tv_sec), sx.stx_ctime.tv_nsec);
    out += buf;
  };
  const std::string policy = policy_file.empty() ? k_system_policy_path : policy_file;
  add(policy, policy.c_str());
  add(program, "program");  // the plugin names it, the program itself is /proc/self/exe
  sys::Fd boot(::open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC));
  char id[64] = {};
  if (boot) {
    (void)::read(boot.get(), id, sizeof(id) - 1);
  }
  out += " boot ";
  out += id;
  return out;
}

}  // namespace

std::string
hook_lock_path(const std::string& root)
{
  std::error_code ec;
  std::string real = std::filesystem::weakly_canonical(root, ec).string();
  if (ec || real.empty()) {
    real = root;
  }
  return runtime_dir_path() + "/hook-" + fnv1a_hex(real) + ".lock";
}

bool
wait_for_background(const std::string& root, std::chrono::milliseconds timeout) noexcept
{
  try {
    const std::string path = hook_lock_path(root);
    sys::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
      return true;
    }
    auto lock = sys::FileLock::acquire_for(fd.get(), sys::FileLock::Mode::shared, path, timeout);
    return lock || lock.error().code != ETIMEDOUT;
  } catch (...) {
    return true;
  }
}

sys::Fd
start_in_background(const Command& command, const std::string& root) noexcept
{
  try {
    if (command.argv.empty()) {
      return {};
    }
    const Argv argv(command.argv);
    sys::Fd input = input_file(command.input);
    sys::Fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
    (void)prepare_runtime_dir();
    sys::Fd lock(::open(hook_lock_path(root).c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!input || !devnull || !lock) {
      return {};
    }
    // Taken before the fork, so that the worker holds it from its first
    // moment and a transaction that follows at once waits for it.
    auto held = sys::FileLock::acquire_for(lock.get(), sys::FileLock::Mode::exclusive, "", k_worker_wait);
    if (!held) {
      return {};
    }
    held->dismiss();
    int gate[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) {
      return {};
    }
    sys::Fd gate_read(gate[0]);
    sys::Fd gate_write(gate[1]);
    const pid_t child = ::fork();
    if (child < 0) {
      return {};
    }
    if (child == 0) {
      // Detach: a new session, and a grandchild that init adopts.
      ::setsid();
      if (::fork() != 0) {
        ::_exit(0);
      }
      ::close(gate[1]);
      char byte;
      while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
      }
      exec_child(argv.get(), input.get(), devnull.get(), lock.get());
    }
    if (wait_child(child) < 0) {
      return {};
    }
    return gate_write;  // the worker's copy of the lock keeps it
  } catch (...) {
    return {};
  }
}

int
run_command(const Command& command, const std::function<void(std::string_view)>& line) noexcept
{
  try {
    if (command.argv.empty()) {
      return -1;
    }
    const Argv argv(command.argv);
    sys::Fd input = input_file(command.input);
    int out[2];
    if (!input || ::pipe2(out, O_CLOEXEC) != 0) {
      line(command.argv[0] + ": cannot run: " + std::strerror(errno));
      return -1;
    }
    sys::Fd out_read(out[0]);
    sys::Fd out_write(out[1]);
    const pid_t child = ::fork();
    if (child < 0) {
      line(command.argv[0] + ": cannot run: " + std::strerror(errno));
      return -1;
    }
    if (child == 0) {
      exec_child(argv.get(), input.get(), out[1], -1);
    }
    out_write.close();
    std::string pending;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(out_read.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      pending.append(buf, static_cast<std::size_t>(n));
      for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
        line(std::string_view(pending).substr(0, nl));
        pending.erase(0, nl + 1);
      }
    }
    if (!pending.empty()) {
      line(pending);
    }
    const int status = wait_child(child);
    if (status >= 0 && WIFEXITED(status)) {
      if (WEXITSTATUS(status) == 127) {
        line(command.argv[0] + ": cannot be executed");
      }
      return WEXITSTATUS(status);
    }
    line(command.argv[0] + ": ended abnormally");
    return -1;
  } catch (...) {
    return -1;
  }
}

bool
hook_config_checked(const std::string& policy_file, const std::string& program) noexcept
{
  try {
    sys::Fd fd(::open(config_stamp_path(policy_file).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
      return false;
    }
    std::string stamp(4096, '\0');
    auto n = sys::read_full(fd.get(), stamp.data(), stamp.size(), "stamp");
    if (!n) {
      return false;
    }
    stamp.resize(*n);
    return stamp == config_fingerprint(policy_file, program) + "\n";
  } catch (...) {
    return false;
  }
}

void
remember_hook_config(const std::string& policy_file, const std::string& program) noexcept
{
  try {
    (void)prepare_runtime_dir();
    sys::Fd dir(::open(runtime_dir_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!dir) {
      return;
    }
    const std::string path = config_stamp_path(policy_file);
    (void)sys::write_file_atomic(dir.get(), path.substr(path.rfind('/') + 1),
                                 config_fingerprint(policy_file, program) + "\n", 0600, path);
  } catch (...) {
  }
}

}  // namespace pkgunify
