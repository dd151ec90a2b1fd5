// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/split.hpp"

#include "guest/exchange.hpp"
#include "guest/metadata.hpp"
#include "guest/protection.hpp"
#include "guest/temp_name.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <optional>

namespace pkgunify {

namespace {

// The path being split: its directory and the file, open.
struct Target
{
  std::string path;
  std::string dir;
  std::string name;
  sys::Fd dfd;
  sys::Fd fd;
  struct stat st = {};
};

std::optional<Target>
open_target(const std::string& path, DirResolution resolution, Reporter& reporter)
{
  const auto slash = path.rfind('/');
  if (path.empty() || path.front() != '/' || slash + 1 == path.size()) {
    reporter.error(path + ": not an absolute file path");
    return std::nullopt;
  }
  Target t;
  t.path = path;
  t.dir = slash == 0 ? "/" : path.substr(0, slash);
  t.name = path.substr(slash + 1);
  auto dfd = resolution == DirResolution::no_symlinks ? sys::open_no_symlinks(t.dir, O_RDONLY | O_DIRECTORY)
                                                      : sys::open_host_dir(t.dir);
  if (!dfd) {
    reporter.error(dfd.error().message);
    return std::nullopt;
  }
  t.dfd = std::move(*dfd);
  // Never a FIFO or a device node a guest put in its place.
  auto fd = sys::open_regular_at(t.dfd.get(), t.name, O_RDONLY, path);
  if (!fd) {
    reporter.error(fd.error().message);
    return std::nullopt;
  }
  t.fd = std::move(*fd);
  auto st = sys::fstat_fd(t.fd.get(), path);
  if (!st) {
    reporter.error(st.error().message);
    return std::nullopt;
  }
  t.st = *st;
  return t;
}

// A private file already; a leftover protection is lifted so that it is
// writable, as release promises.
SplitResult
lift_private(Target& t, VserverKernel& kernel, bool dry_run, Reporter& reporter)
{
  Protector lifter(LinkMode::hardlink, kernel);
  auto state = lifter.state(t.fd.get(), t.path);
  if (state && *state != Protection::none && !dry_run) {
    auto guard = lifter.lift(t.fd.get(), t.path, Protector::Lock::none);
    if (!guard) {
      reporter.error(guard.error().message);
      return SplitResult::failed;
    }
    guard->leave_lifted();
  }
  return SplitResult::not_shared;
}

// The private copy: content and metadata of the shared file, durable, at
// `tmpname` next to it.
sys::Result<void>
make_private_copy(const Target& t, const std::string& tmpname)
{
  auto meta = read_metadata(t.fd.get(), t.path);
  if (!meta) {
    return std::unexpected(meta.error());
  }
  sys::Fd tmp(::openat(t.dfd.get(), tmpname.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!tmp) {
    return sys::fail_sys("create temporary file for", t.path);
  }
  if (auto c = sys::copy_content(t.fd.get(), tmp.get(), meta->size, t.path); !c) {
    return c;
  }
  if (auto m = apply_metadata(tmp.get(), *meta, t.path + " (private copy)"); !m) {
    return m;
  }
  if (::fsync(tmp.get()) != 0) {
    return sys::fail_sys("sync private copy of", t.path);
  }
  return {};
}

// Exchanges the private copy with the shared file, the shared inode's
// protection lifted meanwhile under an exclusive lock (so that concurrent
// runs do not restore it), and restored for the other guests.
SplitResult
exchange_copy(Target& t, const std::string& tmpname, VserverKernel& kernel, Reporter& reporter)
{
  auto fail = [&](const std::string& message) {
    ::unlinkat(t.dfd.get(), tmpname.c_str(), 0);
    reporter.error(message);
    return SplitResult::failed;
  };
  Protector lifter(LinkMode::hardlink, kernel);
  auto guard = lifter.lift(t.fd.get(), t.path);
  if (!guard) {
    return fail(guard.error().message);
  }
  const struct stat before = t.st;
  ExchangeRequest request{t.dfd.get(),
                          t.name,
                          tmpname,
                          t.path,
                          t.dir + "/" + tmpname,
                          [&](const struct stat& old) {
                            struct stat now;
                            return old.st_ino == before.st_ino && ::fstat(t.fd.get(), &now) == 0
                                   && now.st_size == before.st_size && now.st_mtim.tv_sec == before.st_mtim.tv_sec
                                   && now.st_mtim.tv_nsec == before.st_mtim.tv_nsec;
                          },
                          nullptr};
  const ExchangeResult result = exchange_verified(request, reporter);
  if (auto r = guard->restore(); !r) {
    reporter.error(r.error().message);
  } else if (r->tainted()) {
    reporter.error(t.path + ": its shared inode was " + r->detail
                   + " by some process while its protection was lifted to split it; the other guests that share "
                     "it should be checked with 'pkgunify store fsck'");
  } else if (!r->clean()) {
    reporter.warning(t.path + ": its shared inode was changed by another process while its protection was lifted ("
                     + r->detail + "): put back");
  }
  switch (result) {
  case ExchangeResult::exchanged:
    ::fsync(t.dfd.get());
    return SplitResult::split;
  case ExchangeResult::changed:
    reporter.error(t.path + ": changed while it was split; left as it was");
    return SplitResult::failed;
  case ExchangeResult::not_permitted:
  case ExchangeResult::link_limit:
    reporter.error(sys::sys_error("replace", t.path, result == ExchangeResult::link_limit ? EMLINK : EPERM).message);
    return SplitResult::failed;
  case ExchangeResult::failed:
    break;
  }
  return SplitResult::failed;
}

}  // namespace

SplitResult
split_path(const std::string& path, Reporter& reporter, const SplitOptions& options)
{
  std::unique_ptr<VserverKernel> own = options.vserver ? nullptr : make_vserver_kernel();
  VserverKernel& kernel = options.vserver ? *options.vserver : *own;
  const bool dry_run = options.dry_run;
  auto target = open_target(path, options.resolution, reporter);
  if (!target) {
    return SplitResult::failed;
  }
  if (target->st.st_nlink <= 1) {
    return lift_private(*target, kernel, dry_run, reporter);
  }
  if (dry_run) {
    return SplitResult::split;
  }
  const DirTimes dir_times(target->dfd.get());
  const std::string tmpname = guest_temp_name(target->name);
  if (auto copy = make_private_copy(*target, tmpname); !copy) {
    ::unlinkat(target->dfd.get(), tmpname.c_str(), 0);
    reporter.error(copy.error().message);
    return SplitResult::failed;
  }
  return exchange_copy(*target, tmpname, kernel, reporter);
}

ReleaseResult
release_if_protected(const std::string& path, DirResolution resolution, Reporter& reporter) noexcept
{
  try {
    struct stat st;
    std::uint64_t attributes = 0;
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) {
      return ReleaseResult::not_needed;
    }
    int rc = -1;
    if (resolution == DirResolution::follow) {
      rc = sys::stat_entry(AT_FDCWD, path.c_str(), st, attributes);  // one statx per file rpm touches
    } else {
      const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
      const sys::Fd dfd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
      if (!dfd) {
        return ReleaseResult::not_needed;  // nothing there to release
      }
      rc = sys::stat_entry(dfd.get(), path.c_str() + slash + 1, st, attributes);
    }
    if (rc != 0 || !S_ISREG(st.st_mode) || !(attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND))) {
      return ReleaseResult::not_needed;
    }
    const SplitResult r = split_path(path, reporter, {.resolution = resolution});
    return r == SplitResult::failed ? ReleaseResult::failed : ReleaseResult::released;
  } catch (const std::exception& e) {
    reporter.error(path + ": " + e.what());
  } catch (...) {
    reporter.error(path + ": unexpected error");
  }
  return ReleaseResult::failed;
}

bool
is_protected_file(const std::string& path) noexcept
{
  struct stat st;
  std::uint64_t attributes = 0;
  return sys::stat_entry(AT_FDCWD, path.c_str(), st, attributes) == 0 && S_ISREG(st.st_mode)
         && (attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND)) != 0;
}

}  // namespace pkgunify
