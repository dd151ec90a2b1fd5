// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/fs.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace pkgunify::sys {

int
proc_self_fd_dir()
{
  // The process (pid, high half) and its descriptor + 1 (low half); 0: none
  // yet. A child of fork() sees its parent's pid there and opens its own:
  // the one it inherited names the parent's descriptors. That one is left
  // open (close-on-exec), as its number may have been reused by the child.
  static std::atomic<std::uint64_t> cached{0};
  const pid_t pid = ::getpid();
  std::uint64_t seen = cached.load(std::memory_order_acquire);
  if (seen != 0 && static_cast<pid_t>(seen >> 32) == pid) {
    return static_cast<int>(seen & 0xffffffffu) - 1;
  }
  Fd dir(::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct statfs sf;
  if (!dir || ::fstatfs(dir.get(), &sf) != 0 || sf.f_type != PROC_SUPER_MAGIC) {
    return -1;  // not cached: /proc may be mounted later
  }
  const std::uint64_t mine = (static_cast<std::uint64_t>(pid) << 32) | static_cast<std::uint32_t>(dir.get() + 1);
  if (cached.compare_exchange_strong(seen, mine, std::memory_order_acq_rel)) {
    return dir.release();
  }
  // Another thread was first.
  return static_cast<pid_t>(seen >> 32) == pid ? static_cast<int>(seen & 0xffffffffu) - 1 : -1;
}

Result<Fd>
open_beneath(int dirfd, std::string_view relpath, int flags, std::string_view display, mode_t mode)
{
  std::string path(relpath.empty() ? std::string_view(".") : relpath);
  while (path.size() > 1 && path.front() == '/') {
    path.erase(0, 1);
  }
  if (path == "/") {
    path = ".";
  }
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  for (;;) {
    const long fd = syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof(how));
    if (fd >= 0) {
      return Fd(static_cast<int>(fd));
    }
    if (errno == EINTR || errno == EAGAIN) {
      continue;  // EAGAIN: a concurrent rename raced the lookup; retry
    }
    return fail_sys("open", display);
  }
}

namespace {

// The regular file `path_fd` (O_PATH) refers to, reopened with `flags`
// through /proc/self/fd. Where that is not procfs (inside a chroot: the rpm
// plugin's file hooks, whose /proc may be missing or the guest's own tree
// of symlinks), `open_by_name` opens the name again with O_NONBLOCK, and
// the file is kept only if it is the same inode (a FIFO swapped in
// meanwhile cannot block; its open is the one step left to a racing guest
// there).
template<typename OpenByName>
Result<Fd>
reopen_regular(Fd path_fd, int flags, std::string_view display, OpenByName&& open_by_name,
               struct stat* st_out = nullptr)
{
  struct stat own;
  struct stat& st = st_out ? *st_out : own;
  if (::fstat(path_fd.get(), &st) != 0) {
    return fail_sys("stat", display);
  }
  if (S_ISDIR(st.st_mode)) {
    return fail_sys("read", display, EISDIR);
  }
  if (S_ISLNK(st.st_mode)) {
    return fail_sys("open", display, ELOOP);  // as O_NOFOLLOW has it
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(std::string(display) + ": not a regular file", EINVAL);
  }
  flags = (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL | O_TRUNC | O_PATH)) | O_CLOEXEC | O_NOCTTY;
  if (const int procfd = proc_self_fd_dir(); procfd >= 0) {
    const std::string name = std::to_string(path_fd.get());
    int fd;
    while ((fd = ::openat(procfd, name.c_str(), flags)) < 0 && errno == EINTR) {
    }
    if (fd < 0) {
      return fail_sys("open", display);
    }
    Fd reopened(fd);
    struct stat now;
    if (::fstat(reopened.get(), &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
      return fail(std::string(display) + ": changed while it was opened", ENOENT);
    }
    return reopened;
  }
  Result<Fd> again = open_by_name(flags | O_NONBLOCK);
  if (!again) {
    return again;
  }
  struct stat now;
  if (::fstat(again->get(), &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
    return fail(std::string(display) + ": changed while it was opened", ENOENT);
  }
  if (!(flags & O_NONBLOCK) && ::fcntl(again->get(), F_SETFL, ::fcntl(again->get(), F_GETFL) & ~O_NONBLOCK) != 0) {
    return fail_sys("open", display);
  }
  return again;
}

}  // namespace

Result<Fd>
open_regular_beneath(int dirfd, std::string_view relpath, int flags, std::string_view display, struct stat* st)
{
  auto path_fd = open_beneath(dirfd, relpath, O_PATH, display);
  if (!path_fd) {
    return path_fd;
  }
  return reopen_regular(
    std::move(*path_fd), flags, display, [&](int again) { return open_beneath(dirfd, relpath, again, display); }, st);
}

Result<Fd>
open_regular_in_root(int rootfd, std::string_view path, int flags, std::string_view display)
{
  auto open_in_root = [&](int f) -> Result<Fd> {
    struct open_how how;
    std::memset(&how, 0, sizeof(how));
    how.flags = static_cast<std::uint64_t>(f | O_CLOEXEC | O_NOFOLLOW);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const std::string p(path.empty() ? "." : path);
    for (;;) {
      const long fd = syscall(SYS_openat2, rootfd, p.c_str(), &how, sizeof(how));
      if (fd >= 0) {
        return Fd(static_cast<int>(fd));
      }
      if (errno != EINTR && errno != EAGAIN) {
        return fail_sys("open", display);
      }
    }
  };
  auto path_fd = open_in_root(O_PATH);
  if (!path_fd) {
    return path_fd;
  }
  return reopen_regular(std::move(*path_fd), flags, display, open_in_root);
}

Result<Fd>
open_regular_at(int dirfd, const std::string& name, int flags, std::string_view display)
{
  Fd path_fd(::openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!path_fd) {
    return fail_sys("open", display);
  }
  return reopen_regular(std::move(path_fd), flags, display, [&](int again) -> Result<Fd> {
    Fd fd(::openat(dirfd, name.c_str(), again | O_NOFOLLOW));
    if (!fd) {
      return fail_sys("open", display);
    }
    return fd;
  });
}

Result<Fd>
open_no_symlinks(const std::string& path, int flags)
{
  if (path.empty() || path.front() != '/') {
    return fail(path + ": not an absolute path", EINVAL);
  }
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    const long fd = syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how));
    if (fd >= 0) {
      return Fd(static_cast<int>(fd));
    }
    if (errno == EINTR || errno == EAGAIN) {
      continue;
    }
    if (errno == ELOOP) {
      return fail(path + ": a component is a symlink (pkgunify never follows symlinks into guests)", ELOOP);
    }
    return fail_sys("open", path);
  }
}

Result<Fd>
open_host_dir(const std::string& path)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return fail_sys("open directory", path);
  }
  return Fd(fd);
}

Result<struct stat>
fstat_fd(int fd, std::string_view display)
{
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return fail_sys("stat", display);
  }
  return st;
}

Result<struct stat>
stat_at(int dirfd, const std::string& name, std::string_view display)
{
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return fail_sys("stat", display);
  }
  return st;
}

Result<void>
ensure_dir_at(int dirfd, const std::string& name, mode_t mode, std::string_view display)
{
  if (::mkdirat(dirfd, name.c_str(), mode) == 0) {
    return {};
  }
  if (errno != EEXIST) {
    return fail_sys("create directory", display);
  }
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return fail_sys("stat", display);
  }
  if (!S_ISDIR(st.st_mode)) {
    return fail(std::string(display) + ": exists and is not a directory", ENOTDIR);
  }
  return {};
}

Result<void>
link_fd_at(int fd, int dirfd, const std::string& name, std::string_view display)
{
  if (::linkat(fd, "", dirfd, name.c_str(), AT_EMPTY_PATH) == 0) {
    return {};
  }
  if (errno == ENOENT || errno == EPERM) {
    // Without CAP_DAC_READ_SEARCH AT_EMPTY_PATH is refused; /proc works for
    // files we own (and for O_TMPFILE files).
    const int refused = errno;
    if (const int procfd = proc_self_fd_dir(); procfd >= 0) {
      const std::string fdname = std::to_string(fd);
      if (::linkat(procfd, fdname.c_str(), dirfd, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
        return {};
      }
    } else {
      errno = refused;  // not the failed open of /proc's
    }
  }
  return fail_sys("link", display);
}

Result<void>
write_all(int fd, const void* data, std::size_t size, std::string_view display)
{
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_sys("write", display);
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

Result<std::size_t>
read_full(int fd, void* data, std::size_t size, std::string_view display)
{
  auto* p = static_cast<char*>(data);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, p + done, size - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_sys("read", display);
    }
    if (n == 0) {
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

Result<void>
write_file_atomic(int dirfd, const std::string& name, std::string_view content, mode_t mode, std::string_view display)
{
  const std::string tmp = "." + name + ".tmp." + random_hex(6);
  Fd fd(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) {
    return fail_sys("create", display);
  }
  auto ok = write_all(fd.get(), content.data(), content.size(), display);
  if (ok && ::fsync(fd.get()) != 0) {
    ok = fail_sys("fsync", display);
  }
  if (ok && ::renameat(dirfd, tmp.c_str(), dirfd, name.c_str()) != 0) {
    ok = fail_sys("rename", display);
  }
  if (!ok) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    return ok;
  }
  ::fsync(dirfd);
  return {};
}

std::string
random_hex(std::size_t n)
{
  std::string bytes(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(bytes.data() + got, n - got, 0);
    if (r > 0) {
      got += static_cast<std::size_t>(r);
    }
  }
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (const unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string
join_display(std::string_view base, std::string_view rel)
{
  std::string out(base);
  while (out.size() > 1 && out.back() == '/') {
    out.pop_back();
  }
  if (rel.empty() || rel == "/" || rel == ".") {
    return out;
  }
  if (rel.front() != '/' && (out.empty() || out.back() != '/')) {
    out += '/';
  } else if (rel.front() == '/' && !out.empty() && out.back() == '/') {
    rel.remove_prefix(1);
  }
  out += rel;
  return out;
}

bool
same_file_state(const struct stat& a, const struct stat& b)
{
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino && a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec
         && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec && a.st_ctim.tv_sec == b.st_ctim.tv_sec
         && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec;
}

std::string
child_path(std::string_view dir, std::string_view name)
{
  std::string out(dir);
  if (out.empty() || out.back() != '/') {
    out += '/';
  }
  out += name;
  return out;
}

int
stat_entry(int dirfd, const char* name, struct stat& st, std::uint64_t& attributes)
{
  struct statx sx;
  if (::statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) != 0) {
    return -1;
  }
  st = {};
  st.st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
  st.st_ino = sx.stx_ino;
  st.st_mode = sx.stx_mode;
  st.st_nlink = sx.stx_nlink;
  st.st_uid = sx.stx_uid;
  st.st_gid = sx.stx_gid;
  st.st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
  st.st_size = static_cast<off_t>(sx.stx_size);
  st.st_blksize = static_cast<blksize_t>(sx.stx_blksize);
  st.st_blocks = static_cast<blkcnt_t>(sx.stx_blocks);
  st.st_atim = {sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec};
  st.st_mtim = {sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec};
  st.st_ctim = {sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec};
  attributes = sx.stx_attributes & sx.stx_attributes_mask;
  return 0;
}

}  // namespace pkgunify::sys
