// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/walker.hpp"

#include "sys/exceptions.hpp"
#include "sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <utility>
#include <vector>

namespace pkgunify {

namespace {

// One walk of a root: directories are opened beneath it one by one.
class TreeWalk
{
public:
  TreeWalk(int root_fd, const std::string& root_display, dev_t dev, WalkVisitor& visitor)
    : m_root_fd(root_fd)
    , m_root_display(root_display)
    , m_dev(dev)
    , m_visitor(visitor)
  {}

  // Enters and reads `dir`; pushes its subdirectories on `stack`, so that
  // the stack pops them in directory order.
  void
  visit(const std::string& dir, std::vector<std::string>& stack)
  {
    const std::string display = sys::join_display(m_root_display, dir);
    auto fd = enter(dir, display);
    if (!fd) {
      return;
    }
    m_subdirs.clear();
    read_entries(dir, display, std::move(*fd));
    for (auto it = m_subdirs.rbegin(); it != m_subdirs.rend(); ++it) {
      stack.push_back(sys::child_path(dir, *it));
    }
  }

private:
  // `dir` opened, when it is on the root's filesystem and the visitor
  // enters it.
  std::optional<sys::Fd>
  enter(const std::string& dir, const std::string& display)
  {
    auto fd = sys::open_beneath(m_root_fd, dir == "/" ? "." : dir.substr(1), O_RDONLY | O_DIRECTORY, display);
    if (!fd) {
      if (fd.error().code == EXDEV) {
        m_visitor.mount_point(dir);  // openat2 refuses to cross into another mount
      } else {
        m_visitor.error(fd.error().message);
      }
      return std::nullopt;
    }
    auto st = sys::fstat_fd(fd->get(), display);
    if (!st) {
      m_visitor.error(st.error().message);
      return std::nullopt;
    }
    if (st->st_dev != m_dev) {
      m_visitor.mount_point(dir);
      return std::nullopt;
    }
    if (!m_visitor.enter_dir(dir, *st)) {
      return std::nullopt;
    }
    return std::move(*fd);
  }

  // Hands the entries of directory `fd` to the visitor and collects its
  // subdirectories.
  void
  read_entries(const std::string& dir, const std::string& display, sys::Fd fd)
  {
    const int dirfd = fd.get();
    DIR* d = ::fdopendir(fd.release());
    if (!d) {
      m_visitor.error(sys::sys_error("read directory", display).message);
      ::close(dirfd);
      return;
    }
    errno = 0;
    while (const dirent* de = ::readdir(d)) {
      const std::string_view name = de->d_name;
      if (name == "." || name == "..") {
        continue;
      }
      if (de->d_type == DT_DIR) {
        m_subdirs.emplace_back(name);
        continue;
      }
      entry(dirfd, dir, display, de->d_name);
    }
    ::closedir(d);
  }

  // An entry the directory does not call a directory: stat decides.
  void
  entry(int dirfd, const std::string& dir, const std::string& display, const char* name)
  {
    struct stat st;
    std::uint64_t attributes = 0;
    if (sys::stat_entry(dirfd, name, st, attributes) != 0) {
      if (errno != ENOENT) {
        m_visitor.error(sys::sys_error("stat", sys::join_display(display, name)).message);
      }
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      m_subdirs.emplace_back(name);
      return;
    }
    m_visitor.entry(dir, name, st, attributes);
  }

  int m_root_fd;
  const std::string& m_root_display;
  dev_t m_dev;
  WalkVisitor& m_visitor;
  std::vector<std::string> m_subdirs;  // of the directory being read
};

}  // namespace

void
walk_tree(int root_fd, const std::string& root_display, WalkVisitor& visitor)
{
  auto root_st = sys::fstat_fd(root_fd, root_display);
  if (!root_st) {
    visitor.error(root_st.error().message);
    return;
  }
  TreeWalk walk(root_fd, root_display, root_st->st_dev, visitor);
  std::vector<std::string> stack{"/"};
  while (!stack.empty()) {
    const std::string dir = std::move(stack.back());
    stack.pop_back();
    walk.visit(dir, stack);
  }
}

}  // namespace pkgunify
