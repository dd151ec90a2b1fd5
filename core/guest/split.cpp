#include "guest/split.hpp"

#include "guest/metadata.hpp"
#include "guest/temp_name.hpp"
#include "guest/protection.hpp"
#include "sys/fs.hpp"
#include "sys/lock.hpp"
#include "sys/xattr.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

namespace pkgunify {

namespace {

sys::Result<void>
copy_content(int from, int to, std::uint64_t size, std::string_view display)
{
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::copy_file_range(from, nullptr, to, nullptr, size - done, 0);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS) {
        break;  // fall back to read/write below
      }
      return sys::fail_sys("copy", display);
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::uint64_t>(n);
  }
  if (done == size) {
    return {};
  }
  std::vector<char> buf(1 << 20);
  for (;;) {
    auto n = sys::read_full(from, buf.data(), buf.size(), display);
    if (!n) {
      return std::unexpected(n.error());
    }
    if (*n == 0) {
      return {};
    }
    if (auto w = sys::write_all(to, buf.data(), *n, display); !w) {
      return w;
    }
  }
}

}  // namespace

SplitResult
split_path(const std::string& path, bool dry_run, Reporter& reporter, VserverKernel* vserver)
{
  return split_path(path, dry_run, reporter, vserver, DirResolution::no_symlinks);
}

SplitResult
split_path(const std::string& path, bool dry_run, Reporter& reporter, VserverKernel* vserver, DirResolution resolution)
{
  std::unique_ptr<VserverKernel> own = vserver ? nullptr : make_vserver_kernel();
  VserverKernel& kernel = vserver ? *vserver : *own;
  const auto slash = path.rfind('/');
  if (path.empty() || path.front() != '/' || slash + 1 == path.size()) {
    reporter.error(path + ": not an absolute file path");
    return SplitResult::failed;
  }
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = path.substr(slash + 1);
  auto dfd = resolution == DirResolution::no_symlinks ? sys::open_no_symlinks(dir, O_RDONLY | O_DIRECTORY)
                                                      : sys::open_host_dir(dir);
  if (!dfd) {
    reporter.error(dfd.error().message);
    return SplitResult::failed;
  }
  sys::Fd fd(::openat(dfd->get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    reporter.error(sys::sys_error("open", path).message);
    return SplitResult::failed;
  }
  auto st = sys::fstat_fd(fd.get(), path);
  if (!st) {
    reporter.error(st.error().message);
    return SplitResult::failed;
  }
  if (!S_ISREG(st->st_mode)) {
    reporter.error(path + ": not a regular file");
    return SplitResult::failed;
  }
  if (st->st_nlink <= 1) {
    // Private already; a leftover protection is lifted so that it is
    // writable, as release promises.
    Protector lifter(LinkMode::hardlink, kernel);
    auto state = lifter.state(fd.get(), path);
    if (state && *state != Protection::none && !dry_run) {
      if (auto r = lifter.lift(fd.get(), path); !r) {
        reporter.error(r.error().message);
        return SplitResult::failed;
      }
    }
    return SplitResult::not_shared;
  }
  if (dry_run) {
    return SplitResult::split;
  }
  auto xattrs = sys::read_xattrs(fd.get(), path);
  if (!xattrs) {
    reporter.error(xattrs.error().message);
    return SplitResult::failed;
  }
  const FileMeta meta = FileMeta::from_stat(*st, std::move(*xattrs));

  const std::string tmpname = guest_temp_name(name);
  sys::Fd tmp(::openat(dfd->get(), tmpname.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!tmp) {
    reporter.error(sys::sys_error("create temporary file for", path).message);
    return SplitResult::failed;
  }
  auto fail = [&](const std::string& message) {
    ::unlinkat(dfd->get(), tmpname.c_str(), 0);
    reporter.error(message);
    return SplitResult::failed;
  };
  if (auto c = copy_content(fd.get(), tmp.get(), meta.size, path); !c) {
    return fail(c.error().message);
  }
  if (auto m = apply_metadata(tmp.get(), meta, path + " (private copy)"); !m) {
    return fail(m.error().message);
  }
  if (::fsync(tmp.get()) != 0) {
    return fail(sys::sys_error("sync private copy of", path).message);
  }
  // Lift the shared inode's protection for the exchange, under a lock that
  // keeps concurrent runs from restoring it meanwhile.
  auto lock = sys::FileLock::acquire(fd.get(), sys::FileLock::Mode::exclusive, path);
  if (!lock) {
    return fail(lock.error().message);
  }
  Protector lifter(LinkMode::hardlink, kernel);
  auto lifted = lifter.lift(fd.get(), path);
  if (!lifted) {
    return fail(lifted.error().message);
  }
  auto restore = [&] {
    if (*lifted == Protection::none) {
      return;
    }
    Protector again(*lifted == Protection::iunlink ? LinkMode::iunlink : LinkMode::immutable, kernel);
    if (auto r = again.protect(fd.get(), path); !r) {
      reporter.error(r.error().message);
    }
  };
  if (::renameat2(dfd->get(), tmpname.c_str(), dfd->get(), name.c_str(), RENAME_EXCHANGE) != 0) {
    const int err = errno;
    restore();
    return fail(sys::sys_error("replace", path, err).message);
  }
  struct stat old;
  struct stat now;
  const bool ok = ::fstatat(dfd->get(), tmpname.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 && old.st_ino == st->st_ino
                  && ::fstat(fd.get(), &now) == 0 && now.st_size == st->st_size
                  && now.st_mtim.tv_sec == st->st_mtim.tv_sec && now.st_mtim.tv_nsec == st->st_mtim.tv_nsec;
  if (!ok) {
    ::renameat2(dfd->get(), tmpname.c_str(), dfd->get(), name.c_str(), RENAME_EXCHANGE);
    restore();
    return fail(path + ": changed while it was split; left as it was");
  }
  if (::unlinkat(dfd->get(), tmpname.c_str(), 0) != 0) {
    reporter.warning(sys::sys_error("remove temporary", dir + "/" + tmpname).message);
  }
  restore();
  ::fsync(dfd->get());
  return SplitResult::split;
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
    int rc = -1;
    if (in_chroot) {
      rc = sys::stat_entry(AT_FDCWD, path.c_str(), st, attributes);  // one statx per file rpm touches
    } else {
      const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
      const int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (dfd < 0) {
        return ReleaseResult::not_needed;  // nothing there to release
      }
      rc = sys::stat_entry(dfd, path.c_str() + slash + 1, st, attributes);
      ::close(dfd);
    }
    if (rc != 0 || !S_ISREG(st.st_mode) || !(attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND))) {
      return ReleaseResult::not_needed;
    }
    const SplitResult r =
      split_path(path, false, reporter, nullptr, in_chroot ? DirResolution::follow : DirResolution::no_symlinks);
    return r == SplitResult::failed ? ReleaseResult::failed : ReleaseResult::released;
  } catch (const std::exception& e) {
    reporter.error(path + ": " + e.what());
  } catch (...) {
    reporter.error(path + ": unexpected error");
  }
  return ReleaseResult::failed;
}

}  // namespace pkgunify
