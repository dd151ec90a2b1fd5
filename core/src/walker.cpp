#include "walker.hpp"

#include "util/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <utility>
#include <vector>

namespace pkgunify {

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

void
walk_tree(int root_fd, const std::string& root_display, WalkVisitor& visitor)
{
  auto root_st = util::fstat_fd(root_fd, root_display);
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
    const std::string display = util::join_display(root_display, dir);

    auto fd = util::open_beneath(root_fd, dir == "/" ? "." : dir.substr(1), O_RDONLY | O_DIRECTORY, display);
    if (!fd) {
      if (fd.error().code == EXDEV) {
        visitor.mount_point(dir);  // openat2 refuses to cross into another mount
      } else {
        visitor.error(fd.error().message);
      }
      continue;
    }
    auto st = util::fstat_fd(fd->get(), display);
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
      visitor.error(util::sys_error("read directory", display).message);
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
      if (stat_entry(dirfd, de->d_name, est, attributes) != 0) {
        if (errno != ENOENT) {
          visitor.error(util::sys_error("stat", util::join_display(display, name)).message);
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
      stack.push_back(child_path(dir, *it));
    }
  }
}

}  // namespace pkgunify
