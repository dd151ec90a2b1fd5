// SPDX-License-Identifier: GPL-2.0-or-later
// The Unifier: what the walk (or a hook's list of files) finds is collected
// in batches of bounded size (the Collector); each full batch goes to the
// pipeline with the link mode's strategy while the walk goes on, and run()
// hands over the rest. Files that are links to their store object already
// are counted by the walk and never queued.
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

#include <algorithm>
#include <chrono>

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

const InodeSet&
Context::object_inodes()
{
  std::call_once(m_inodes_once, [this] {
    m_object_inodes = store.object_inodes();
    m_index_read.store(true, std::memory_order_release);
  });
  return m_object_inodes;
}

std::uint64_t
Context::index_entries_read() const
{
  return m_index_read.load(std::memory_order_acquire) ? m_object_inodes.size() : 0;
}

bool
Context::index_worth_reading(const Candidate& c)
{
  if (c.immutable || m_index_read.load(std::memory_order_acquire)) {
    return true;
  }
  std::call_once(m_index_cost_once, [this] {
    const std::uint64_t bytes = store.index_bytes();
    m_index_cost = bytes > opt.eager_index_bytes ? bytes : 0;
  });
  // Reading a file costs at least a block, however small it is.
  constexpr std::uint64_t k_least_read = 4096;
  const std::uint64_t cost = std::max(c.size, k_least_read);
  return m_instead_cost.fetch_add(cost, std::memory_order_relaxed) + cost >= m_index_cost;
}

Context::Known
Context::known_object(const Candidate& c)
{
  if (opt.link == LinkMode::reflink || c.nlink <= 1 || !index_worth_reading(c) || !object_inodes().contains(c.ino)) {
    return Known::no;
  }
  const bool want = protector.wanted() != Protection::none;
  return (c.immutable == want || opt.dry_run) ? Known::linked : Known::fix_protection;
}

std::uint32_t
Batch::intern_dir(const std::string& dir)
{
  if (!dirs.empty() && dirs.back() == dir) {
    return static_cast<std::uint32_t>(dirs.size() - 1);  // the walk's entries come directory by directory
  }
  auto [it, inserted] = dir_index.try_emplace(dir, static_cast<std::uint32_t>(dirs.size()));
  if (inserted) {
    dirs.push_back(dir);
  }
  return it->second;
}

void
Batch::clear()
{
  dirs.clear();
  dir_index.clear();
  candidates.clear();
  leftovers.clear();
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

namespace {

// Leftovers kept for the end of the run; a guest that names more files like
// temporaries gets the rest cleaned by the next runs.
constexpr std::size_t k_max_leftovers = 65536;

}  // namespace

namespace scan {

// Collects what the walk finds in batches and runs each once it is full.
struct Collector : Context
{
  Collector(const Store& s, ScanOptions o, Reporter& r)
    : Context(s, std::move(o), r)
    , limit(opt.batch_size ? opt.batch_size : k_default_batch_size)
  {}

  std::size_t limit;
  scan::Batch single;  // files of one link: each inode is complete by itself
  scan::Batch shared;  // files of several links, waiting for their other names
  scan::Batch left;    // leftovers of interrupted runs
  bool leftovers_capped = false;
  std::unique_ptr<scan::LinkStrategy> strategy;
  scan::RunLock run_lock;
  std::chrono::steady_clock::time_point last_progress = std::chrono::steady_clock::now();

  void consider(std::uint32_t root, const std::string& dir, const std::string& name, const struct stat& st,
                std::uint64_t attributes);
  void leftover(std::uint32_t root, const std::string& dir, const std::string& name);
  void boundary();
  void run_batch(scan::Batch& b);
  void run_complete_groups();
  void progress_now_and_then();
  void finish();
};

}  // namespace scan

struct Unifier::Impl : scan::Collector
{
  using Collector::Collector;
};

namespace {

// Adds candidate `c` of directory `dir` to `b`.
void
add_candidate(scan::Batch& b, const std::string& dir, scan::Candidate c)
{
  c.dir = b.intern_dir(dir);
  b.candidates.push_back(std::move(c));
}

}  // namespace

// Classifies one directory entry found by the walk or named by add_file.
void
scan::Collector::consider(std::uint32_t root, const std::string& dir, const std::string& name, const struct stat& st,
                          std::uint64_t attributes)
{
  if (guest_temp_original(name)) {
    leftover(root, dir, name);
    return;
  }
  if (S_ISREG(st.st_mode)) {
    ++stats.files_seen;
  }
  const std::string path = sys::child_path(dir, name);
  if (auto verdict = candidate_verdict(opt.policy, roots[root].filter.get(), path, st)) {
    skip(verdict->key);
    return;
  }
  ++stats.candidates;
  scan::Candidate c{
    root, 0, name, st.st_ino, sys::counted_size(st), st.st_nlink, (attributes & STATX_ATTR_IMMUTABLE) != 0};
  if (known_object(c) == Known::linked) {
    ++stats.already_linked;  // a second scan: nothing to read, nothing to keep
    ++done;
    progress_now_and_then();
    return;
  }
  scan::Batch& b = c.nlink > 1 ? shared : single;
  add_candidate(b, dir, std::move(c));
  if (b.candidates.size() < 2 * limit) {
    return;
  }
  if (&b == &single) {  // one huge directory
    run_batch(single);
  } else {
    run_complete_groups();
  }
}

void
scan::Collector::leftover(std::uint32_t root, const std::string& dir, const std::string& name)
{
  if (left.leftovers.size() < k_max_leftovers) {
    left.leftovers.push_back({root, left.intern_dir(dir), name});
  } else if (!leftovers_capped) {
    leftovers_capped = true;
    reporter.warning(sys::join_display(roots[root].path, sys::child_path(dir, name)) + ": more than "
                     + std::to_string(k_max_leftovers)
                     + " temporary names of interrupted runs; the next runs clean the rest");
  }
}

// Between two directories: nothing the walk holds open is changed by a run.
void
scan::Collector::boundary()
{
  if (single.candidates.size() >= limit) {
    run_batch(single);
  }
  if (shared.candidates.size() >= limit) {
    run_complete_groups();
  }
}

void
scan::Collector::run_batch(scan::Batch& b)
{
  if (b.candidates.empty()) {
    b.clear();
    return;
  }
  run_lock.hold(*this);
  if (!strategy) {
    strategy = opt.link == LinkMode::reflink ? scan::make_reflink_strategy(*this) : scan::make_hardlink_strategy(*this);
  }
  ++stats.batches;
  stats.largest_batch = std::max<std::uint64_t>(stats.largest_batch, b.candidates.size());
  close_dir_cache();  // its directory numbers are the last batch's
  std::swap(candidates, b.candidates);
  std::swap(dirs, b.dirs);
  scan::run_pipeline(*this, *strategy);
  close_dir_cache();
  std::swap(candidates, b.candidates);
  std::swap(dirs, b.dirs);
  b.clear();
}

// The shared batch is full: runs the inodes whose every name it holds, and
// keeps the others for their names still to come -- unless they fill half
// of it, then they run too (an inode whose names are split over two batches
// is read once in each; its object is the same).
void
scan::Collector::run_complete_groups()
{
  auto& all = shared.candidates;
  std::sort(all.begin(), all.end(), [](const scan::Candidate& a, const scan::Candidate& b) { return a.ino < b.ino; });
  scan::Batch complete;
  scan::Batch keep;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i + 1;
    while (j < all.size() && all[j].ino == all[i].ino) {
      ++j;
    }
    scan::Batch& to = j - i >= all[i].nlink ? complete : keep;
    for (; i < j; ++i) {
      add_candidate(to, shared.dirs[all[i].dir], std::move(all[i]));
    }
  }
  shared = std::move(keep);
  run_batch(complete);
  if (shared.candidates.size() > limit / 2) {
    run_batch(shared);
  }
}

void
scan::Collector::progress_now_and_then()
{
  if (!opt.progress || done % 4096 != 0) {
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now - last_progress > std::chrono::milliseconds(200)) {
    last_progress = now;
    opt.progress(stats, done, stats.candidates);
  }
}

void
scan::Collector::finish()
{
  run_batch(single);
  run_batch(shared);
  close_dir_cache();
  std::swap(dirs, left.dirs);
  std::swap(leftovers, left.leftovers);
  run_lock.clean_leftovers(*this);
  close_dir_cache();
  stats.store_index_entries = index_entries_read();
  if (opt.progress) {
    opt.progress(stats, done, stats.candidates);
  }
}

namespace {

// What the walk of one root reports to the Unifier.
struct TreeVisitor : WalkVisitor
{
  scan::Collector& impl;
  std::uint32_t root;
  TreeVisitor(scan::Collector& i, std::uint32_t r) : impl(i), root(r) {}

  bool
  enter_dir(const std::string& dir, const struct stat& st) override
  {
    if (st.st_ino == impl.store.ino() && st.st_dev == impl.store.dev()) {
      return false;  // the store itself lives in this root
    }
    // Overlapping roots (one inside another, or one given twice): a root's
    // directory is walked once. Directories have one name each, so only
    // the roots' directories need remembering.
    if (impl.root_inodes.contains(st.st_ino) && !impl.walked_roots.insert(st.st_ino).second) {
      return false;
    }
    if (dir != "/" && impl.opt.policy.prunes(dir)) {
      return false;
    }
    impl.boundary();
    return true;
  }

  void
  entry(const std::string& dir, const std::string& name, const struct stat& st, std::uint64_t attributes) override
  {
    impl.consider(root, dir, name, st, attributes);
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
  m_impl->root_inodes.insert(root.st.st_ino);
  m_impl->roots.push_back({std::move(root.path), std::move(root.fd), root.st, std::move(filter)});
  return m_impl->roots.size() - 1;
}

void
Unifier::add_tree(std::size_t root)
{
  add_trees({root});
}

void
Unifier::add_trees(const std::vector<std::size_t>& roots)
{
  std::vector<std::unique_ptr<TreeVisitor>> visitors;
  std::vector<WalkRoot> walk;
  for (const std::size_t root : roots) {
    visitors.push_back(std::make_unique<TreeVisitor>(*m_impl, static_cast<std::uint32_t>(root)));
    walk.push_back({m_impl->roots[root].fd.get(), &m_impl->roots[root].path, visitors.back().get()});
  }
  walk_trees(walk, k_walk_threads);
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
  impl.consider(static_cast<std::uint32_t>(root), dir, name, st, attributes);
  impl.boundary();
}

ScanStats
Unifier::run()
{
  m_impl->finish();
  return m_impl->stats;
}

}  // namespace pkgunify
