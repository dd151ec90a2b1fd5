// SPDX-License-Identifier: GPL-2.0-or-later
// The Unifier: what the walk (or a hook's list of files) finds becomes the
// candidate list of a scan::Context; run() hands it to the pipeline with the
// link mode's strategy.
#include "engine/scanner.hpp"

#include "engine/internal/scan_context.hpp"
#include "engine/walker.hpp"
#include "guest/root.hpp"
#include "guest/temp_name.hpp"
#include "sys/exceptions.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"
#include "sys/xattr.hpp"

#include <fcntl.h>
#include <sys/stat.h>

namespace pkgunify {

namespace scan {

Context::Context(const Store& s, ScanOptions o, Reporter& r)
  : store(s)
  , opt(std::move(o))
  , reporter(r)
  , kind(identity_kind(opt.policy, opt.link))
  , own_vserver(opt.vserver ? nullptr : make_vserver_kernel())
  , protector(opt.link, opt.vserver ? *opt.vserver : *own_vserver)
{}

const std::unordered_set<ino_t>&
Context::object_inodes()
{
  std::call_once(m_inodes_once, [this] { m_object_inodes = store.object_inodes(); });
  return m_object_inodes;
}

std::uint32_t
Context::intern_dir(const std::string& dir)
{
  auto [it, inserted] = dir_index.try_emplace(dir, static_cast<std::uint32_t>(dirs.size()));
  if (inserted) {
    dirs.push_back(dir);
  }
  return it->second;
}

std::string
Context::display(std::uint32_t root, std::uint32_t dir, std::string_view name) const
{
  return sys::join_display(roots[root].path, sys::child_path(dirs[dir], name));
}

std::string
Context::display(const Candidate& c) const
{
  return display(c.root, c.dir, c.name);
}

std::string
Context::relative(const Candidate& c) const
{
  return sys::child_path(dirs[c.dir], c.name).substr(1);
}

void
Context::fail(const std::string& message, std::uint64_t n)
{
  stats.errors += n;
  reporter.error(message);
}

sys::Result<int>
Context::dir_fd(std::uint32_t root, std::uint32_t dir)
{
  if (m_cached_root != root || m_cached_dir != dir || !m_cached_fd) {
    close_dir_cache();
    auto fd = sys::open_beneath(roots[root].fd.get(), dirs[dir] == "/" ? "." : dirs[dir].substr(1),
                                O_RDONLY | O_DIRECTORY, sys::join_display(roots[root].path, dirs[dir]));
    if (!fd) {
      return std::unexpected(fd.error());
    }
    m_cached_fd = std::move(*fd);
    m_cached_root = root;
    m_cached_dir = dir;
    if (!opt.dry_run) {
      m_cached_times = std::make_unique<DirTimes>(m_cached_fd.get());
    }
  }
  return m_cached_fd.get();
}

void
Context::close_dir_cache()
{
  m_cached_times.reset();  // sets the mtime back while the directory is open
  m_cached_fd.close();
  m_cached_root = UINT32_MAX;
  m_cached_dir = UINT32_MAX;
}

sys::Fd
open_candidate(Context& ctx, Prepared& p)
{
  const Candidate& c = ctx.candidates[p.begin];
  const std::string disp = ctx.display(c);
  const std::string rel = ctx.relative(c);
  const int root_fd = ctx.roots[c.root].fd.get();
  // Never a FIFO or a device node swapped in since the walk (open_regular_beneath).
  struct stat st;
  auto fd = sys::open_regular_beneath(root_fd, rel, O_RDONLY | O_NOATIME, disp, &st);
  if (!fd && fd.error().code == EPERM) {
    fd = sys::open_regular_beneath(root_fd, rel, O_RDONLY, disp, &st);
  }
  if (!fd) {
    const int err = fd.error().code;
    if (err == ENOENT || err == ELOOP || err == EXDEV || err == EINVAL || err == EISDIR) {
      p.skip("changed");
    } else {
      p.reason = fd.error().message;
    }
    return {};
  }
  if (st.st_ino != c.ino) {  // a regular file (open_regular_beneath), but another one
    p.skip("changed");
    return {};
  }
  if (static_cast<std::uint64_t>(st.st_size) < ctx.opt.policy.min_size) {
    p.skip("too-small");
    return {};
  }
  auto xattrs = sys::read_xattrs(fd->get(), disp);
  if (!xattrs) {
    p.reason = xattrs.error().message;
    return {};
  }
  p.meta = FileMeta::from_stat(st, std::move(*xattrs));
  p.st = st;
  return std::move(*fd);
}

}  // namespace scan

struct Unifier::Impl : scan::Context
{
  using Context::Context;
};

namespace {

// Classifies one directory entry found by the walk or named by add_file.
void
consider(scan::Context& ctx, std::uint32_t root, std::uint32_t dir, const std::string& name, const struct stat& st,
         std::uint64_t attributes)
{
  if (guest_temp_original(name)) {
    ctx.leftovers.push_back({root, dir, name});
    return;
  }
  if (S_ISREG(st.st_mode)) {
    ++ctx.stats.files_seen;
  }
  const std::string path = sys::child_path(ctx.dirs[dir], name);
  if (auto verdict = candidate_verdict(ctx.opt.policy, ctx.roots[root].filter.get(), path, st)) {
    ctx.skip(verdict->key);
    return;
  }
  ++ctx.stats.candidates;
  ctx.candidates.push_back(
    {root, dir, name, st.st_ino, sys::counted_size(st), st.st_nlink, (attributes & STATX_ATTR_IMMUTABLE) != 0});
}

// What the walk of one root reports to the Unifier.
struct TreeVisitor : WalkVisitor
{
  scan::Context& impl;
  std::uint32_t root;
  std::uint32_t current = 0;
  TreeVisitor(scan::Context& i, std::uint32_t r) : impl(i), root(r) {}

  bool
  enter_dir(const std::string& dir, const struct stat& st) override
  {
    if (st.st_ino == impl.store.ino() && st.st_dev == impl.store.dev()) {
      return false;  // the store itself lives in this root
    }
    if (!impl.seen_dirs.insert(st.st_ino).second) {
      return false;  // overlapping roots: walked already
    }
    if (dir != "/" && impl.opt.policy.prunes(dir)) {
      return false;
    }
    current = impl.intern_dir(dir);
    return true;
  }

  void
  entry(const std::string& /*dir*/, const std::string& name, const struct stat& st, std::uint64_t attributes) override
  {
    consider(impl, root, current, name, st, attributes);
  }

  void
  mount_point(const std::string& /*path*/) override
  {
    impl.skip("other-filesystem");
  }

  void
  error(const std::string& message) override
  {
    impl.fail(message);
  }
};

}  // namespace

Unifier::Unifier(const Store& store, ScanOptions options, Reporter& reporter)
  : m_impl(std::make_unique<Impl>(store, std::move(options), reporter))
{}

Unifier::~Unifier() = default;

std::size_t
Unifier::add_root(const std::string& path, std::shared_ptr<const PackageFilter> filter)
{
  GuestRoot root = m_impl->store.open_root(path);
  m_impl->roots.push_back({std::move(root.path), std::move(root.fd), root.st, std::move(filter)});
  return m_impl->roots.size() - 1;
}

void
Unifier::add_tree(std::size_t root)
{
  TreeVisitor visitor(*m_impl, static_cast<std::uint32_t>(root));
  walk_tree(m_impl->roots[root].fd.get(), m_impl->roots[root].path, visitor);
}

void
Unifier::add_file(std::size_t root, const std::string& path)
{
  auto& impl = *m_impl;
  const std::string disp = sys::join_display(impl.roots[root].path, path);
  const auto slash = path.rfind('/');
  if (path.empty() || path.front() != '/' || slash == std::string::npos || slash + 1 == path.size()) {
    impl.fail(disp + ": not an absolute file path");
    return;
  }
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = path.substr(slash + 1);
  auto dfd = sys::open_beneath(impl.roots[root].fd.get(), dir == "/" ? "." : dir.substr(1), O_RDONLY | O_DIRECTORY,
                               sys::join_display(impl.roots[root].path, dir));
  if (!dfd) {
    if (dfd.error().code == ENOENT) {
      impl.skip("missing");
    } else {
      impl.fail(dfd.error().message);
    }
    return;
  }
  struct stat st;
  std::uint64_t attributes = 0;
  if (sys::stat_entry(dfd->get(), name.c_str(), st, attributes) != 0) {
    if (errno == ENOENT) {
      impl.skip("missing");
    } else {
      impl.fail(sys::sys_error("stat", disp).message);
    }
    return;
  }
  consider(impl, static_cast<std::uint32_t>(root), impl.intern_dir(dir), name, st, attributes);
}

ScanStats
Unifier::run()
{
  auto& ctx = static_cast<scan::Context&>(*m_impl);
  // Held shared while the run may create guest temporaries (leftovers.cpp).
  sys::Fd run_fd;
  const sys::FileLock run_lock = scan::clean_leftovers(ctx, run_fd);
  ctx.close_dir_cache();
  const auto strategy =
    ctx.opt.link == LinkMode::reflink ? scan::make_reflink_strategy(ctx) : scan::make_hardlink_strategy(ctx);
  scan::run_pipeline(ctx, *strategy);
  ctx.close_dir_cache();
  return ctx.stats;
}

}  // namespace pkgunify
