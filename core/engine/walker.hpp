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
#include <vector>

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

// One tree of walk_trees: the root open, its host path, and its visitor.
struct WalkRoot
{
  int fd;
  const std::string* display;
  WalkVisitor* visitor;
};

// Walks `roots` with `threads` threads that share the directories still to
// read, so that a cold walk keeps several reads in flight. Each thread
// reads a directory whole (up to k_walk_chunk entries at a time), stats its
// entries and closes it; the visitors are then called by one thread at a
// time, a directory's entries together, from whichever thread read it.
// enter_dir comes before a directory's entries. What a visitor throws stops
// the walk and is thrown here. threads <= 1: in this thread, one root after
// the other, as walk_tree.
void walk_trees(const std::vector<WalkRoot>& roots, unsigned threads);

// Entries of one directory handed to the visitor at once; a larger
// directory is handed over in parts while it is read.
inline constexpr std::size_t k_walk_chunk = 8192;

// Threads of a walk: a few reads in flight are what a cold disk (or a loop
// device) serves best, whatever the cores.
inline constexpr unsigned k_walk_threads = 4;

}  // namespace pkgunify
