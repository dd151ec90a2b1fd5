// SPDX-License-Identifier: GPL-2.0-or-later
#include "pkgdb/internal/db_files.hpp"

#include "sys/fs.hpp"
#include "sys/read.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace pkgunify::pkgdb_files {

namespace {

// Whether `relpath` beneath `root_fd` is a symlink itself.
bool
is_symlink(int root_fd, std::string_view relpath, const std::string& display)
{
  auto fd = sys::open_beneath(root_fd, relpath, O_PATH, display);
  struct stat st;
  return fd && ::fstat(fd->get(), &st) == 0 && S_ISLNK(st.st_mode);
}

}  // namespace

sys::Result<sys::Fd>
open_dir_beneath(int root_fd, std::string_view relpath, const std::string& display)
{
  auto fd = sys::open_beneath(root_fd, relpath, O_RDONLY | O_DIRECTORY, display);
  if (fd) {
    return fd;
  }
  if (fd.error().code == ENOTDIR && is_symlink(root_fd, relpath, display)) {
    fd = sys::fail(display, ELOOP);  // O_DIRECTORY | O_NOFOLLOW says ENOTDIR for the last one
  }
  if (fd.error().code == ELOOP) {
    return sys::fail(display + ": it or a directory on the way is a symlink, never followed inside a guest", ELOOP);
  }
  if (fd.error().code == EXDEV) {
    return sys::fail(display + ": it or a directory on the way is a mount point, never crossed inside a guest", EXDEV);
  }
  return fd;
}

sys::Result<void>
check_size(int fd, std::uint64_t max_size, std::string_view display)
{
  auto st = sys::fstat_fd(fd, display);
  if (!st) {
    return std::unexpected(st.error());
  }
  return check_size(*st, max_size, display);
}

sys::Result<void>
check_size(const struct stat& st, std::uint64_t max_size, std::string_view display)
{
  if (static_cast<std::uint64_t>(st.st_size) > max_size) {
    return sys::fail(
      std::string(display) + ": larger than " + std::to_string(max_size) + " bytes, the most it may hold", EFBIG);
  }
  return {};
}

sys::Result<sys::Fd>
open_file(int dirfd, const std::string& name, std::uint64_t max_size, std::string_view display)
{
  auto fd = sys::open_regular_at(dirfd, name, O_RDONLY, display);
  if (!fd) {
    return fd;
  }
  if (auto checked = check_size(fd->get(), max_size, display); !checked) {
    return std::unexpected(checked.error());
  }
  return fd;
}

sys::Result<std::string>
read_file(int dirfd, const std::string& name, std::uint64_t max_size, std::string_view display)
{
  auto fd = open_file(dirfd, name, max_size, display);
  if (!fd) {
    return std::unexpected(fd.error());
  }
  // The limit holds again while reading: a file that grows meanwhile fails.
  return sys::read_small_file(fd->get(), static_cast<std::size_t>(max_size), display);
}

sys::Result<std::vector<std::string>>
list_dir(int dir_fd, std::size_t max_entries, const std::function<bool(std::string_view)>& keep,
         std::string_view display)
{
  // fdopendir takes a descriptor of its own, read from its start.
  sys::Fd fd(::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* dir = fd ? ::fdopendir(fd.get()) : nullptr;
  if (!dir) {
    return sys::fail_sys("read directory", display);
  }
  static_cast<void>(fd.release());
  const std::unique_ptr<DIR, int (*)(DIR*)> owner(dir, ::closedir);
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    const dirent* de = ::readdir(dir);
    if (!de) {
      if (errno != 0) {
        return sys::fail_sys("read directory", display);
      }
      return names;
    }
    const std::string_view name = de->d_name;
    if (name == "." || name == ".." || !keep(name)) {
      continue;
    }
    if (names.size() == max_entries) {
      return sys::fail(
        std::string(display) + ": more than " + std::to_string(max_entries) + " entries, the most it may hold", E2BIG);
    }
    names.emplace_back(name);
  }
}

std::string
reason(const sys::Error& error, std::string_view display)
{
  const std::string prefix = std::string(display) + ": ";
  if (error.message.starts_with(prefix)) {
    return error.message.substr(prefix.size());
  }
  return error.code != 0 ? std::strerror(error.code) : error.message;
}

}  // namespace pkgunify::pkgdb_files
