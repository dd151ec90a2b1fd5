// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/split.hpp"

#include "guest/exchange.hpp"
#include "guest/metadata.hpp"
#include "guest/protection.hpp"
#include "guest/temp_name.hpp"
#include "sys/fd.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_set>
#include <vector>

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

// The private copy: content and metadata of the shared file at `tmpname`
// next to it; made durable here, or (`durable` false) by the caller's
// syncfs before the exchange.
sys::Result<void>
make_private_copy(const Target& t, const std::string& tmpname, bool durable = true)
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
  if (durable && ::fsync(tmp.get()) != 0) {
    return sys::fail_sys("sync private copy of", t.path);
  }
  return {};
}

// Exchanges the private copy with the shared file, the shared inode's
// protection lifted meanwhile under an exclusive lock (so that concurrent
// runs do not restore it), and restored for the other guests.
SplitResult
exchange_copy(Target& t, const std::string& tmpname, VserverKernel& kernel, Reporter& reporter, bool sync_dir = true)
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
    if (sync_dir) {
      ::fsync(t.dfd.get());
    }
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

namespace {

// Whether `path` is a protected regular file (one statx): only those need a
// release. The release itself opens the path safely again.
bool
needs_release(const std::string& path, DirResolution resolution)
{
  struct stat st;
  std::uint64_t attributes = 0;
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return false;
  }
  int rc = -1;
  if (resolution == DirResolution::follow) {
    rc = sys::stat_entry(AT_FDCWD, path.c_str(), st, attributes);  // one statx per file rpm touches
  } else {
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    const sys::Fd dfd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!dfd) {
      return false;  // nothing there to release
    }
    rc = sys::stat_entry(dfd.get(), path.c_str() + slash + 1, st, attributes);
  }
  return rc == 0 && S_ISREG(st.st_mode) && (attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND));
}

// A path of a batch whose private copy waits for the batch's syncfs.
struct Pending
{
  std::size_t index = 0;
  Target target;
  std::string tmpname;
};

// The mtime of a directory of a batch, on a descriptor of its own: the
// Pending that opened the directory may be gone (its copy failed) before
// the time is put back, and its descriptor's number taken by another.
struct HeldDirTimes
{
  sys::Fd fd;
  std::unique_ptr<DirTimes> times;  // destroyed first: restores through `fd`
};

// The mtime of each directory of a batch, taken before its first private
// copy is made there and put back after its last exchange (one per
// directory: a second one would take the time the first copy left).
using BatchDirTimes = std::map<std::pair<dev_t, ino_t>, HeldDirTimes>;

// Opens and copies each path of `batch` (indexes into `paths`), without an
// fsync each; returns the ones waiting for their exchange.
std::vector<Pending>
copy_batch(const std::vector<std::string>& paths, const std::vector<std::size_t>& batch, DirResolution resolution,
           VserverKernel& kernel, BatchDirTimes& dir_times, std::vector<ReleaseResult>& out, Reporter& reporter)
{
  std::vector<Pending> pending;
  for (const std::size_t i : batch) {
    auto target = open_target(paths[i], resolution, reporter);
    if (!target) {
      out[i] = ReleaseResult::failed;
      continue;
    }
    if (target->st.st_nlink <= 1) {
      const bool ok = lift_private(*target, kernel, false, reporter) != SplitResult::failed;
      out[i] = ok ? ReleaseResult::released : ReleaseResult::failed;
      continue;
    }
    Pending p{i, std::move(*target), {}};
    struct stat dst
    {};
    if (::fstat(p.target.dfd.get(), &dst) == 0) {
      HeldDirTimes& held = dir_times[{dst.st_dev, dst.st_ino}];
      if (!held.times) {
        held.fd = sys::Fd(::fcntl(p.target.dfd.get(), F_DUPFD_CLOEXEC, 0));
        if (held.fd) {
          held.times = std::make_unique<DirTimes>(held.fd.get());
        }
      }
    }
    p.tmpname = guest_temp_name(p.target.name);
    if (auto copy = make_private_copy(p.target, p.tmpname, false); !copy) {
      ::unlinkat(p.target.dfd.get(), p.tmpname.c_str(), 0);
      reporter.error(copy.error().message);
      out[i] = ReleaseResult::failed;
      continue;
    }
    pending.push_back(std::move(p));
  }
  return pending;
}

// One syncfs per filesystem of `pending`; false when one fails.
bool
sync_filesystems(const std::vector<Pending>& pending, Reporter& reporter)
{
  std::vector<dev_t> done;
  for (const auto& p : pending) {
    if (std::find(done.begin(), done.end(), p.target.st.st_dev) != done.end()) {
      continue;
    }
    if (::syncfs(p.target.dfd.get()) != 0) {
      reporter.error(sys::sys_error("syncfs", p.target.dir).message);
      return false;
    }
    done.push_back(p.target.st.st_dev);
  }
  return true;
}

void
release_batch(const std::vector<std::string>& paths, const std::vector<std::size_t>& batch, DirResolution resolution,
              std::vector<ReleaseResult>& out, Reporter& reporter)
{
  const std::unique_ptr<VserverKernel> kernel = make_vserver_kernel();
  BatchDirTimes dir_times;
  std::vector<Pending> pending = copy_batch(paths, batch, resolution, *kernel, dir_times, out, reporter);
  // The copies are durable before any of them replaces its shared file.
  if (!sync_filesystems(pending, reporter)) {
    for (auto& p : pending) {
      ::unlinkat(p.target.dfd.get(), p.tmpname.c_str(), 0);
      out[p.index] = ReleaseResult::failed;
    }
    return;
  }
  for (auto& p : pending) {
    const SplitResult r = exchange_copy(p.target, p.tmpname, *kernel, reporter, false);
    out[p.index] = r == SplitResult::failed ? ReleaseResult::failed : ReleaseResult::released;
  }
  sync_filesystems(pending, reporter);  // and the exchanges, as split_path's fsync of the directory does
}

}  // namespace

std::vector<ReleaseResult>
release_all_if_protected(const std::vector<std::string>& paths, DirResolution resolution, Reporter& reporter) noexcept
{
  std::vector<ReleaseResult> out(paths.size(), ReleaseResult::not_needed);
  try {
    constexpr std::size_t k_batch = 256;  // open at once: two descriptors each
    std::vector<std::size_t> batch;
    std::unordered_set<std::string_view> seen;  // a path named twice is released once
    for (std::size_t i = 0; i < paths.size(); ++i) {
      if (seen.insert(paths[i]).second && needs_release(paths[i], resolution)) {
        batch.push_back(i);
      }
      if (batch.size() == k_batch || (i + 1 == paths.size() && !batch.empty())) {
        release_batch(paths, batch, resolution, out, reporter);
        batch.clear();
      }
    }
  } catch (const std::exception& e) {
    reporter.error(std::string("release: ") + e.what());
  } catch (...) {
    reporter.error("release: unexpected error");
  }
  return out;
}

ReleaseResult
release_if_protected(const std::string& path, DirResolution resolution, Reporter& reporter) noexcept
{
  try {
    if (!needs_release(path, resolution)) {
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
