// SPDX-License-Identifier: GPL-2.0-or-later
// The walk: directories are opened beneath their root one by one, read and
// stat'ed outside any lock, and handed to the visitor under one. Threads
// share a stack of the directories still to read.
#include "engine/walker.hpp"

#include "sys/exceptions.hpp"
#include "sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace pkgunify {

namespace {

// A non-directory entry as the walk found it.
struct Found
{
  std::string name;
  struct stat st;
  std::uint64_t attributes;
};

// A directory still to read: the root it belongs to, and its path.
struct Pending
{
  std::size_t root;
  std::string dir;
};

// The walk of several roots by several threads.
class Walk
{
public:
  Walk(const std::vector<WalkRoot>& roots, std::vector<dev_t> devs) : m_roots(roots), m_devs(std::move(devs)) {}

  void
  push(std::size_t root, std::string dir)
  {
    std::lock_guard lock(m_queue_mu);
    m_stack.push_back({root, std::move(dir)});
  }

  // Takes directories until none is left and no thread reads one (which
  // might find more); false once the walk is over.
  bool
  take(Pending& out)
  {
    std::unique_lock lock(m_queue_mu);
    m_more.wait(lock, [this] { return !m_stack.empty() || m_busy == 0 || m_stop; });
    if (m_stop || m_stack.empty()) {
      return false;
    }
    out = std::move(m_stack.back());
    m_stack.pop_back();
    ++m_busy;
    return true;
  }

  // The directory taken is done; `subdirs` are its subdirectories, pushed
  // so that they pop in directory order.
  void
  done(std::size_t root, const std::string& dir, const std::vector<std::string>& subdirs)
  {
    std::lock_guard lock(m_queue_mu);
    for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) {
      m_stack.push_back({root, sys::child_path(dir, *it)});
    }
    --m_busy;
    m_more.notify_all();
  }

  // What a visitor threw: the walk stops, the caller gets it.
  void
  fail(std::exception_ptr e)
  {
    std::lock_guard lock(m_queue_mu);
    if (!m_error) {
      m_error = std::move(e);
    }
    m_stop = true;
    m_more.notify_all();
  }

  void
  rethrow() const
  {
    if (m_error) {
      std::rethrow_exception(m_error);
    }
  }

  void
  run_worker()
  {
    Pending p;
    std::vector<std::string> subdirs;
    while (take(p)) {
      subdirs.clear();
      try {
        visit(p, subdirs);
      } catch (...) {
        fail(std::current_exception());
      }
      done(p.root, p.dir, subdirs);
    }
  }

private:
  WalkVisitor&
  visitor(std::size_t root) const
  {
    return *m_roots[root].visitor;
  }

  // Enters and reads one directory, and collects its subdirectories.
  void
  visit(const Pending& p, std::vector<std::string>& subdirs)
  {
    const std::string display = sys::join_display(*m_roots[p.root].display, p.dir);
    auto fd = enter(p, display);
    if (!fd) {
      return;
    }
    read_entries(p, display, std::move(*fd), subdirs);
  }

  // `dir` opened, when it is on the root's filesystem and the visitor
  // enters it.
  std::optional<sys::Fd>
  enter(const Pending& p, const std::string& display)
  {
    auto fd =
      sys::open_beneath(m_roots[p.root].fd, p.dir == "/" ? "." : p.dir.substr(1), O_RDONLY | O_DIRECTORY, display);
    sys::Result<struct stat> st = fd ? sys::fstat_fd(fd->get(), display) : std::unexpected(fd.error());
    std::lock_guard lock(m_visit_mu);
    if (!fd) {
      if (fd.error().code == EXDEV) {
        visitor(p.root).mount_point(p.dir);  // openat2 refuses to cross into another mount
      } else {
        visitor(p.root).error(fd.error().message);
      }
      return std::nullopt;
    }
    if (!st) {
      visitor(p.root).error(st.error().message);
      return std::nullopt;
    }
    if (st->st_dev != m_devs[p.root]) {
      visitor(p.root).mount_point(p.dir);
      return std::nullopt;
    }
    if (!visitor(p.root).enter_dir(p.dir, *st)) {
      return std::nullopt;
    }
    return std::move(*fd);
  }

  // Reads directory `fd` and stats what it does not call a directory, then
  // hands the entries over: once it is closed, or in parts for a large one.
  void
  read_entries(const Pending& p, const std::string& display, sys::Fd fd, std::vector<std::string>& subdirs)
  {
    const int dirfd = fd.get();
    DIR* d = ::fdopendir(fd.release());
    if (!d) {
      const std::string message = sys::sys_error("read directory", display).message;
      ::close(dirfd);
      std::lock_guard lock(m_visit_mu);
      visitor(p.root).error(message);
      return;
    }
    std::vector<Found> found;
    std::vector<std::string> errors;
    while (const dirent* de = ::readdir(d)) {
      const std::string_view name = de->d_name;
      if (name == "." || name == "..") {
        continue;
      }
      if (de->d_type == DT_DIR) {
        subdirs.emplace_back(name);
        continue;
      }
      Found f{std::string(name), {}, 0};
      if (sys::stat_entry(dirfd, de->d_name, f.st, f.attributes) != 0) {
        if (errno != ENOENT) {
          errors.push_back(sys::sys_error("stat", sys::join_display(display, de->d_name)).message);
        }
      } else if (S_ISDIR(f.st.st_mode)) {
        subdirs.push_back(std::move(f.name));
      } else {
        found.push_back(std::move(f));
        if (found.size() >= k_walk_chunk) {
          hand_over(p, found, errors);
        }
      }
    }
    ::closedir(d);
    hand_over(p, found, errors);
  }

  void
  hand_over(const Pending& p, std::vector<Found>& found, std::vector<std::string>& errors)
  {
    std::lock_guard lock(m_visit_mu);
    for (const std::string& e : errors) {
      visitor(p.root).error(e);
    }
    for (const Found& f : found) {
      visitor(p.root).entry(p.dir, f.name, f.st, f.attributes);
    }
    found.clear();
    errors.clear();
  }

  const std::vector<WalkRoot>& m_roots;
  std::vector<dev_t> m_devs;
  std::mutex m_visit_mu;  // one visitor call at a time
  std::mutex m_queue_mu;
  std::condition_variable m_more;
  std::vector<Pending> m_stack;
  std::size_t m_busy = 0;  // directories being read
  bool m_stop = false;
  std::exception_ptr m_error;
};

}  // namespace

void
walk_trees(const std::vector<WalkRoot>& roots, unsigned threads)
{
  std::vector<dev_t> devs;
  std::vector<std::size_t> usable;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    auto st = sys::fstat_fd(roots[i].fd, *roots[i].display);
    if (!st) {
      roots[i].visitor->error(st.error().message);
      devs.push_back(0);
      continue;
    }
    devs.push_back(st->st_dev);
    usable.push_back(i);
  }
  Walk walk(roots, std::move(devs));
  if (threads <= 1) {
    for (const std::size_t i : usable) {  // one root after the other, each depth first
      walk.push(i, "/");
      walk.run_worker();
      walk.rethrow();
    }
    return;
  }
  for (auto it = usable.rbegin(); it != usable.rend(); ++it) {
    walk.push(*it, "/");
  }
  std::vector<std::jthread> workers;
  for (unsigned t = 1; t < threads; ++t) {
    workers.emplace_back([&walk] { walk.run_worker(); });
  }
  walk.run_worker();
  workers.clear();  // joins
  walk.rethrow();
}

void
walk_tree(int root_fd, const std::string& root_display, WalkVisitor& visitor)
{
  walk_trees({WalkRoot{root_fd, &root_display, &visitor}}, 1);
}

}  // namespace pkgunify
