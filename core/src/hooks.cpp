#include "hooks.hpp"

#include "exceptions.hpp"
#include "packages.hpp"
#include "split.hpp"
#include "util/sha256.hpp"
#include "walker.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace pkgunify {

namespace {

constexpr const char* k_system_policy = "/etc/pkgunify/pkgunify.yaml";

} // namespace

Policy
load_hook_policy(const std::string& file)
{
  if (!file.empty()) {
    return load_policy(file);
  }
  if (::access(k_system_policy, F_OK) == 0) {
    return load_policy(k_system_policy);
  }
  return default_policy();
}

bool
check_hook_config(const HookRequest& request, Reporter& reporter) noexcept
{
  try {
    const Policy policy = load_hook_policy(request.policy_file);
    if (policy.link == LinkMode::iunlink) {
      const auto kernel = make_vserver_kernel();
      if (auto r = kernel->probe(); !r) {
        throw ConfigError("link mode iunlink needs a Linux-VServer kernel; this kernel has no vserver syscall ("
                          + r.error().message + ")");
      }
    }
    return true;
  } catch (const std::exception& e) {
    reporter.error(e.what());
  } catch (...) {
    reporter.error("unexpected error");
  }
  return false;
}

HookResult
unify_files(const HookRequest& request, Reporter& reporter) noexcept
{
  HookResult result;
  try {
    ScanOptions opt;
    opt.policy = load_hook_policy(request.policy_file);
    opt.policy.create = opt.policy.hook_create;
    const std::string store_path =
      opt.policy.store ? *opt.policy.store : Store::default_location(request.root);
    const Store store = Store::open(store_path, true);
    const auto kernel = make_vserver_kernel();
    opt.link = resolve_link_mode(opt.policy, *kernel, store);
    auto filter = std::make_shared<PackageFilter>();
    filter->source = "package manager";
    filter->config = request.config;
    Unifier unifier(store, opt, reporter);
    const std::size_t id = unifier.add_root(request.root, filter);
    RootPaths paths(request.root);
    std::unordered_set<std::string> seen;
    for (const auto& f : request.files) {
      const auto canon = paths.canonical(f);
      if (canon && !request.config.contains(f) && seen.insert(*canon).second) {
        unifier.add_file(id, *canon);
      }
    }
    result.stats = unifier.run();
    result.ran = true;
  } catch (const std::exception& e) {
    reporter.error(e.what());
  } catch (...) {
    reporter.error("unexpected error");
  }
  return result;
}

namespace {

class StderrReporter : public Reporter
{
public:
  void
  error(std::string_view message) override
  {
    std::fprintf(stderr, "pkgunify[%d]: error: %.*s\n", static_cast<int>(::getpid()), static_cast<int>(message.size()),
                 message.data());
  }
  void
  warning(std::string_view message) override
  {
    std::fprintf(stderr, "pkgunify[%d]: warning: %.*s\n", static_cast<int>(::getpid()),
                 static_cast<int>(message.size()), message.data());
  }
};

} // namespace

std::string
hook_lock_path(const std::string& root)
{
  std::error_code ec;
  std::string real = std::filesystem::weakly_canonical(root, ec).string();
  if (ec || real.empty()) {
    real = root;
  }
  util::Sha256 sha;
  sha.update(real.data(), real.size());
  return "/run/pkgunify/hook-" + util::to_hex(sha.finish()).substr(0, 32) + ".lock";
}

bool
unify_files_in_background(const HookRequest& request, const std::string& log) noexcept
{
  try {
    const std::string path = hook_lock_path(request.root);
    ::mkdir("/run/pkgunify", 0700);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return false;
    }
    // Taken before forking, so the worker holds it from its first moment.
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd);
        return false;
      }
    }
    // The worker starts once the calling process (the package manager) has
    // exited, so that its last steps (closing and syncing its database) do
    // not compete with the worker for the filesystem journal: the caller
    // keeps the write end of this pipe until it exits (close-on-exec, so
    // scriptlets it runs do not hold it), the worker waits for EOF.
    int gate[2];
    if (::pipe2(gate, O_CLOEXEC) != 0) {
      ::close(fd);
      return false;
    }
    const pid_t child = ::fork();
    if (child < 0) {
      ::close(fd);
      ::close(gate[0]);
      ::close(gate[1]);
      return false;
    }
    if (child == 0) {
      // Detach: new session, and a grandchild that init adopts.
      ::setsid();
      if (::fork() != 0) {
        ::_exit(0);
      }
      ::close(gate[1]);
      const int devnull = ::open("/dev/null", O_RDWR);
      const int logfd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(logfd >= 0 ? logfd : devnull, 2);
      // Nothing of the package manager's (its database, its locks) stays
      // open in the worker but the hook lock and the gate.
      const unsigned low = static_cast<unsigned>(std::min(fd, gate[0]));
      const unsigned high = static_cast<unsigned>(std::max(fd, gate[0]));
      ::close_range(3, low - 1, 0);
      ::close_range(low + 1, high - 1, 0);
      ::close_range(high + 1, ~0U, 0);
      char byte;
      while (::read(gate[0], &byte, 1) < 0 && errno == EINTR) {
      }
      ::close(gate[0]);
      StderrReporter reporter;
      unify_files(request, reporter);
      std::fflush(stderr);
      ::_exit(0);
    }
    ::close(fd);  // the worker's copy keeps the lock
    ::close(gate[0]);
    // gate[1] stays open in this process until it exits, on purpose.
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    return true;
  } catch (...) {
    return false;
  }
}

void
wait_for_background(const std::string& root) noexcept
{
  try {
    const int fd = ::open(hook_lock_path(root).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      return;
    }
    while (::flock(fd, LOCK_SH) != 0 && errno == EINTR) {
    }
    ::close(fd);
  } catch (...) {
  }
}

ReleaseResult
release_if_protected(const std::string& path, bool in_chroot, Reporter& reporter) noexcept
{
  try {
    struct stat st;
    std::uint64_t attributes = 0;
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) {
      return ReleaseResult::not_needed;
    }
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    const int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | (in_chroot ? 0 : O_NOFOLLOW));
    if (dfd < 0) {
      return ReleaseResult::not_needed;  // nothing there to release
    }
    const int rc = stat_entry(dfd, path.c_str() + slash + 1, st, attributes);
    ::close(dfd);
    if (rc != 0 || !S_ISREG(st.st_mode) || !(attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND))) {
      return ReleaseResult::not_needed;
    }
    const SplitResult r = split_path(path, false, reporter, nullptr,
                                     in_chroot ? DirResolution::follow : DirResolution::no_symlinks);
    return r == SplitResult::failed ? ReleaseResult::failed : ReleaseResult::released;
  } catch (const std::exception& e) {
    reporter.error(path + ": " + e.what());
  } catch (...) {
    reporter.error(path + ": unexpected error");
  }
  return ReleaseResult::failed;
}

} // namespace pkgunify
