#include "engine/walker.hpp"

#include "sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>
#include <vector>

namespace pkgunify {

void
walk_tree(int root_fd, const std::string& root_display, WalkVisitor& visitor)
{
  auto root_st = sys::fstat_fd(root_fd, root_display);
  if (!root_st) {
    visitor.error(root_st.error().message);
    return;
  }
  const dev_t dev = root_st->st_dev;

  std::vector<std::string> stack{"/"};
  std::vector<std::string> subdirs;
  while (!stack.empty()) {
    const std::string dir = std::move(stack.back());
    stack.pop_back();
    const std::string display = sys::join_display(root_display, dir);

    auto fd = sys::open_beneath(root_fd, dir == "/" ? "." : dir.substr(1), O_RDONLY | O_DIRECTORY, display);
    if (!fd) {
      if (fd.error().code == EXDEV) {
        visitor.mount_point(dir);  // openat2 refuses to cross into another mount
      } else {
        visitor.error(fd.error().message);
      }
      continue;
    }
    auto st = sys::fstat_fd(fd->get(), display);
    if (!st) {
      visitor.error(st.error().message);
      continue;
    }
    if (st->st_dev != dev) {
      visitor.mount_point(dir);
      continue;
    }
    if (!visitor.enter_dir(dir, *st)) {
      continue;
    }

    const int dirfd = fd->get();
    DIR* d = ::fdopendir(fd->release());
    if (!d) {
      visitor.error(sys::sys_error("read directory", display).message);
      ::close(dirfd);
      continue;
    }
    subdirs.clear();
    errno = 0;
    while (const dirent* de = ::readdir(d)) {
      const std::string_view name = de->d_name;
      if (name == "." || name == "..") {
        continue;
      }
      if (de->d_type == DT_DIR) {
        subdirs.emplace_back(name);
        continue;
      }
      struct stat est;
      std::uint64_t attributes = 0;
      if (sys::stat_entry(dirfd, de->d_name, est, attributes) != 0) {
        if (errno != ENOENT) {
          visitor.error(sys::sys_error("stat", sys::join_display(display, name)).message);
        }
        continue;
      }
      if (S_ISDIR(est.st_mode)) {
        subdirs.emplace_back(name);
        continue;
      }
      visitor.entry(dir, std::string(name), est, attributes);
    }
    ::closedir(d);
    // Reverse so that the stack pops them in directory order.
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) {
      stack.push_back(sys::child_path(dir, *it));
    }
  }
}

}  // namespace pkgunify
