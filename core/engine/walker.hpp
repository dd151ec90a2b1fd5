// SPDX-License-Identifier: GPL-2.0-or-later
// Walks a guest root without following symlinks or crossing mounts. Each
// directory is opened with openat2 beneath the root, so a guest that swaps a
// directory for a symlink while the walk runs gets the walk refused for that
// directory, never redirected.
#pragma once

#include "store/store.hpp"
#include "sys/fd.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace pkgunify {

class WalkVisitor
{
public:
  virtual ~WalkVisitor() = default;
  // `dir` is absolute within the root ("/", "/usr"). Return false to skip it
  // and everything below.
  virtual bool enter_dir(const std::string& dir, const struct stat& st) = 0;
  // Any non-directory entry, with its lstat and its statx attributes
  // (STATX_ATTR_IMMUTABLE, ...).
  virtual void entry(const std::string& dir, const std::string& name, const struct stat& st,
                     std::uint64_t attributes) = 0;
  // A directory on another filesystem (a mount point inside the root).
  virtual void mount_point(const std::string& path) = 0;
  virtual void error(const std::string& message) = 0;
};

// `root_fd` is an open directory; `root_display` its host path for messages.
void walk_tree(int root_fd, const std::string& root_display, WalkVisitor& visitor);

}  // namespace pkgunify
