#include "engine/scanner.hpp"

#include "sys/exceptions.hpp"
#include "sys/fs.hpp"
#include "sys/lock.hpp"
#include "sys/reflink.hpp"
#include "sys/xattr.hpp"
#include "engine/walker.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace pkgunify {

namespace {

// Files up to this size are read into memory while hashed and written to the
// store only when their object turns out to be new; larger ones are copied
// into a temporary store file during the read.
constexpr std::size_t k_buffer_max = 1 << 20;
constexpr std::size_t k_chunk = 1 << 20;

struct Root
{
  std::string path;
  sys::Fd fd;
  struct stat st = {};
  std::shared_ptr<const PackageFilter> filter;
};

struct Candidate
{
  std::uint32_t root;
  std::uint32_t dir;
  std::string name;
  ino_t ino;
  std::uint64_t size;
  nlink_t nlink;
  bool immutable;  // STATX_ATTR_IMMUTABLE when walked
};

struct Leftover
{
  std::uint32_t root;
  std::uint32_t dir;
  std::string name;
};

enum class Outcome { ready, already, fix_protection, skipped, failed };

// What a worker hands to the committer for one inode (a group of paths).
struct Prepared
{
  std::size_t begin = 0;  // candidate range [begin, end), all the same inode
  std::size_t end = 0;
  Outcome outcome = Outcome::failed;
  std::string reason;   // skip reason or error message
  sys::Fd fd;          // the guest file, open
  struct stat st = {};  // its state when hashed
  FileMeta meta;
  ObjectId id;
  sys::Fd tmp;  // new object content with metadata, unpublished
  std::uint64_t bytes_read = 0;
  bool was_shared = false;  // reflink: extents were shared before
  bool adopt = false;       // create: adopt may link this very inode into the store
  // Publishes a new object (tmp, or with create: adopt the guest's inode):
  // committed only after a syncfs. False when the object existed when the
  // file was hashed (published objects are durable).
  bool publishes = false;
};

// How many prepared files may wait for one syncfs, and how many may wait in
// the queue for the committer: each holds up to two descriptors (the guest
// file and the unpublished object), so both follow the descriptor limit,
// leaving room for directories, the store and the workers' own files.
std::size_t
descriptor_budget()
{
  constexpr std::size_t k_max = 2048;
  constexpr std::size_t k_reserve = 512;
  struct rlimit rl = {};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
    return k_max;
  }
  const auto limit = static_cast<std::size_t>(rl.rlim_cur);
  return std::clamp<std::size_t>(limit > k_reserve ? (limit - k_reserve) / 4 : 0, 1, k_max);
}

// Hashes a file's identity: `meta` (as `kind` takes it) and every byte from
// offset 0, read with pread (the descriptor's offset is left alone). Returns
// the id and how many bytes there were.
sys::Result<std::pair<ObjectId, std::uint64_t>>
hash_content(int fd, const FileMeta& meta, IdentityKind kind, std::vector<char>& buffer, std::string_view display)
{
  IdentityHasher hasher;
  hasher.start(meta, kind);
  if (buffer.size() < k_chunk) {
    buffer.resize(k_chunk);
  }
  std::uint64_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.data(), k_chunk, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return std::unexpected(sys::sys_error("read", display));
    }
    if (n == 0) {
      break;
    }
    hasher.update(buffer.data(), static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return std::pair{hasher.finish(), offset};
}

bool
same_content_state(const struct stat& a, const struct stat& b)
{
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec
         && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

std::optional<Verdict>
candidate_verdict(const Policy& policy, const PackageFilter* filter, const std::string& path, const struct stat& st)
{
  if (!S_ISREG(st.st_mode)) {
    return Verdict{"not-regular", S_ISDIR(st.st_mode) ? "directory" : S_ISLNK(st.st_mode) ? "symlink" : "special file"};
  }
  if (filter && filter->config.contains(path)) {
    return Verdict{"config", "configuration file (" + filter->source + ")"};
  }
  if (auto why = policy.why_excluded(path)) {
    return Verdict{"excluded", *why};
  }
  if (st.st_size == 0) {
    return Verdict{"empty", "empty (no data to share)"};
  }
  if (static_cast<std::uint64_t>(st.st_size) < policy.min_size) {
    return Verdict{"too-small", "smaller than min_size " + std::to_string(policy.min_size)};
  }
  if (filter && filter->packaged && !filter->packaged->contains(path)) {
    return Verdict{"unpackaged", "no installed package owns it (only_packaged)"};
  }
  return std::nullopt;
}

IdentityKind
identity_kind(const Policy& policy, LinkMode mode)
{
  if (mode == LinkMode::reflink) {
    return IdentityKind::content_only;
  }
  return policy.ignore_mtime ? IdentityKind::ignore_mtime : IdentityKind::full;
}

struct Unifier::Impl
{
  const Store& store;
  ScanOptions opt;
  Reporter& reporter;
  IdentityKind kind;
  std::unique_ptr<VserverKernel> own_vserver;
  Protector protector;
  bool reflink;

  std::vector<Root> roots;
  std::vector<std::string> dirs;
  std::unordered_map<std::string, std::uint32_t> dir_index;
  std::vector<Candidate> candidates;
  std::vector<Leftover> leftovers;
  std::unordered_set<std::uint64_t> seen_dirs;  // inode numbers (one filesystem)
  ScanStats stats;

  std::once_flag inodes_once;
  std::unordered_set<ino_t> object_inodes;

  // Work queue between workers and the committer.
  std::mutex mu;
  std::condition_variable cv_put;
  std::condition_variable cv_get;
  std::deque<std::unique_ptr<Prepared>> queue;
  std::size_t queue_cap = 64;
  std::size_t workers_running = 0;

  // Held shared while the run may create guest temporaries (see
  // clean_leftovers).
  sys::Fd run_fd;
  sys::FileLock run_lock;

  // Committer state.
  std::unordered_set<std::string> dry_created;
  std::uint32_t cached_dir_root = UINT32_MAX;
  std::uint32_t cached_dir = UINT32_MAX;
  sys::Fd cached_dir_fd;

  Impl(const Store& s, ScanOptions o, Reporter& r)
    : store(s)
    , opt(std::move(o))
    , reporter(r)
    , kind(identity_kind(opt.policy, opt.link))
    , own_vserver(opt.vserver ? nullptr : make_vserver_kernel())
    , protector(opt.link, opt.vserver ? *opt.vserver : *own_vserver)
    , reflink(opt.link == LinkMode::reflink)
  {}

  const std::unordered_set<ino_t>&
  inodes()
  {
    std::call_once(inodes_once, [this] { object_inodes = store.object_inodes(); });
    return object_inodes;
  }

  std::uint32_t
  intern_dir(const std::string& dir)
  {
    auto [it, inserted] = dir_index.try_emplace(dir, static_cast<std::uint32_t>(dirs.size()));
    if (inserted) {
      dirs.push_back(dir);
    }
    return it->second;
  }

  std::string
  display(std::uint32_t root, std::uint32_t dir, std::string_view name) const
  {
    return sys::join_display(roots[root].path, sys::child_path(dirs[dir], name));
  }

  std::string
  display(const Candidate& c) const
  {
    return display(c.root, c.dir, c.name);
  }

  void
  skip(const std::string& reason, std::uint64_t n = 1)
  {
    stats.skipped[reason] += n;
  }

  // Classifies one directory entry found by the walk or named by add_file.
  void
  consider(std::uint32_t root, std::uint32_t dir, const std::string& name, const struct stat& st,
           std::uint64_t attributes)
  {
    if (guest_temp_original(name)) {
      leftovers.push_back({root, dir, name});
      return;
    }
    if (S_ISREG(st.st_mode)) {
      ++stats.files_seen;
    }
    const std::string path = sys::child_path(dirs[dir], name);
    if (auto verdict = candidate_verdict(opt.policy, roots[root].filter.get(), path, st)) {
      skip(verdict->key);
      return;
    }
    ++stats.candidates;
    candidates.push_back({root, dir, name, st.st_ino, static_cast<std::uint64_t>(st.st_size), st.st_nlink,
                          (attributes & STATX_ATTR_IMMUTABLE) != 0});
  }

  // ---- Workers ----------------------------------------------------------

  void
  push(std::unique_ptr<Prepared> p)
  {
    std::unique_lock lock(mu);
    cv_put.wait(lock, [this] { return queue.size() < queue_cap; });
    queue.push_back(std::move(p));
    cv_get.notify_one();
  }

  std::unique_ptr<Prepared>
  prepare(std::size_t begin, std::size_t end, std::vector<char>& buffer)
  {
    auto p = std::make_unique<Prepared>();
    p->begin = begin;
    p->end = end;
    const Candidate& c = candidates[begin];
    const std::string disp = display(c);

    if (!reflink && c.nlink > 1 && inodes().contains(c.ino)) {
      const bool want = protector.wanted() != Protection::none;
      p->outcome = (c.immutable == want || opt.dry_run) ? Outcome::already : Outcome::fix_protection;
      return p;
    }
    if (!reflink && c.immutable) {
      // Protected by someone else (chattr +i in the guest): leave it.
      p->outcome = Outcome::skipped;
      p->reason = "immutable";
      return p;
    }

    const Root& root = roots[c.root];
    const std::string rel = sys::child_path(dirs[c.dir], c.name).substr(1);
    auto fd = sys::open_beneath(root.fd.get(), rel, O_RDONLY | O_NOATIME, disp);
    if (!fd && fd.error().code == EPERM) {
      fd = sys::open_beneath(root.fd.get(), rel, O_RDONLY, disp);
    }
    if (!fd) {
      if (fd.error().code == ENOENT || fd.error().code == ELOOP || fd.error().code == EXDEV) {
        p->outcome = Outcome::skipped;
        p->reason = "changed";
        return p;
      }
      p->reason = fd.error().message;
      return p;
    }
    auto st = sys::fstat_fd(fd->get(), disp);
    if (!st) {
      p->reason = st.error().message;
      return p;
    }
    if (!S_ISREG(st->st_mode) || st->st_ino != c.ino) {
      p->outcome = Outcome::skipped;
      p->reason = "changed";
      return p;
    }
    if (static_cast<std::uint64_t>(st->st_size) < opt.policy.min_size) {
      p->outcome = Outcome::skipped;
      p->reason = "too-small";
      return p;
    }
    auto xattrs = sys::read_xattrs(fd->get(), disp);
    if (!xattrs) {
      p->reason = xattrs.error().message;
      return p;
    }
    p->meta = FileMeta::from_stat(*st, std::move(*xattrs));
    if (reflink) {
      return prepare_reflink(std::move(p), std::move(*fd), *st, buffer);
    }

    IdentityHasher hasher;
    hasher.start(p->meta, kind);
    // Adopting makes the guest's inode the object (and protects it): only
    // when every name of that inode is one this scan links. A hard link to a
    // file outside the roots, or to an excluded one, is copied instead.
    p->adopt = opt.policy.create == CreateMode::adopt && st->st_nlink <= p->end - p->begin;
    const bool copy = !p->adopt && !opt.dry_run;
    const auto size = static_cast<std::uint64_t>(st->st_size);
    const bool buffered = copy && size <= k_buffer_max;
    sys::Fd tmp;
    if (copy && !buffered) {
      auto t = store.make_temp();
      if (!t) {
        p->reason = t.error().message;
        return p;
      }
      tmp = std::move(*t);
    }

    ::posix_fadvise(fd->get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    std::uint64_t total = 0;
    const std::size_t chunk = buffered ? static_cast<std::size_t>(size) + 1 : k_chunk;
    if (buffer.size() < chunk) {
      buffer.resize(chunk);
    }
    for (;;) {
      auto n = sys::read_full(fd->get(), buffer.data(), buffered ? chunk : k_chunk, disp);
      if (!n) {
        p->reason = n.error().message;
        return p;
      }
      if (*n == 0) {
        break;
      }
      hasher.update(buffer.data(), *n);
      total += *n;
      if (tmp) {
        if (auto w = sys::write_all(tmp.get(), buffer.data(), *n, store.path() + "/tmp"); !w) {
          p->reason = w.error().message;
          return p;
        }
      }
      if (buffered || total > size) {
        break;
      }
    }
    p->bytes_read = total;
    auto st2 = sys::fstat_fd(fd->get(), disp);
    if (!st2) {
      p->reason = st2.error().message;
      return p;
    }
    if (total != size || !sys::same_file_state(*st, *st2)) {
      p->outcome = Outcome::skipped;
      p->reason = "changed";
      return p;
    }
    p->id = hasher.finish();
    p->st = *st;

    if (!opt.dry_run) {
      auto existing = store.stat_object(p->id, 0);
      if (!existing) {
        p->reason = existing.error().message;
        return p;
      }
      p->publishes = !existing->has_value();
      if (copy && p->publishes) {
        if (!tmp) {
          auto t = store.make_temp();
          if (!t) {
            p->reason = t.error().message;
            return p;
          }
          tmp = std::move(*t);
          if (auto w = sys::write_all(tmp.get(), buffer.data(), total, store.path() + "/tmp"); !w) {
            p->reason = w.error().message;
            return p;
          }
        }
        if (auto m = apply_metadata(tmp.get(), p->meta, store.path() + "/tmp (new object for " + disp + ")"); !m) {
          p->reason = m.error().message;
          return p;
        }
        p->tmp = std::move(tmp);
      }
    }
    p->fd = std::move(*fd);
    p->outcome = Outcome::ready;
    return p;
  }

  // Reflink mode: the file keeps its inode. It is hashed where it is; only a
  // file whose object is new is cloned into a temporary store file, and that
  // clone (which the guest cannot change) is hashed once more before it may
  // become the object. A file whose object exists is shared with it by the
  // committer through FIDEDUPERANGE, which compares the bytes in the kernel,
  // so a file that changed after it was hashed is never shared.
  std::unique_ptr<Prepared>
  prepare_reflink(std::unique_ptr<Prepared> p, sys::Fd fd, const struct stat& st, std::vector<char>& buffer)
  {
    const Candidate& c = candidates[p->begin];
    const std::string disp = display(c);
    auto sharing = sys::extent_sharing(fd.get(), disp);
    if (sharing && sharing->extents > 0 && sharing->shared == sharing->extents && sharing->inline_or_unknown == 0) {
      p->outcome = Outcome::already;  // every extent is shared already
      return p;
    }
    p->was_shared = sharing && sharing->shared > 0;
    FileMeta meta;
    meta.size = static_cast<std::uint64_t>(st.st_size);
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    auto id = hash_content(fd.get(), meta, kind, buffer, disp);
    if (!id) {
      p->reason = id.error().message;
      return p;
    }
    p->bytes_read = meta.size;
    auto st2 = sys::fstat_fd(fd.get(), disp);
    if (!st2) {
      p->reason = st2.error().message;
      return p;
    }
    if (id->second != meta.size || !sys::same_file_state(st, *st2)) {
      p->outcome = Outcome::skipped;
      p->reason = "changed";
      return p;
    }
    p->id = id->first;
    p->meta = meta;
    p->st = st;
    auto existing = store.stat_object(p->id, 0);
    if (!existing) {
      p->reason = existing.error().message;
      return p;
    }
    if (!existing->has_value() && !opt.dry_run) {
      auto tmp = store.make_temp();
      if (!tmp) {
        p->reason = tmp.error().message;
        return p;
      }
      if (auto r = sys::clone_file(fd.get(), tmp->get(), disp); !r) {
        p->reason = r.error().message;
        return p;
      }
      auto again = hash_content(tmp->get(), meta, kind, buffer, store.path() + "/tmp (clone of " + disp + ")");
      if (!again) {
        p->reason = again.error().message;
        return p;
      }
      p->bytes_read += again->second;
      if (again->first != p->id || again->second != meta.size) {
        p->outcome = Outcome::skipped;  // written to between the hash and the clone
        p->reason = "changed";
        return p;
      }
      p->tmp = std::move(*tmp);
      p->publishes = true;
    }
    p->fd = std::move(fd);
    p->outcome = Outcome::ready;
    return p;
  }

  void
  worker(const std::vector<std::pair<std::size_t, std::size_t>>& groups, std::atomic<std::size_t>& next)
  {
    std::vector<char> buffer;
    for (;;) {
      const std::size_t i = next.fetch_add(1);
      if (i >= groups.size()) {
        break;
      }
      std::unique_ptr<Prepared> p;
      try {
        p = prepare(groups[i].first, groups[i].second, buffer);
      } catch (const std::exception& e) {
        p = std::make_unique<Prepared>();
        p->begin = groups[i].first;
        p->end = groups[i].second;
        p->reason = e.what();
      }
      push(std::move(p));
    }
    std::lock_guard lock(mu);
    --workers_running;
    cv_get.notify_one();
  }

  // ---- Committer --------------------------------------------------------

  sys::Result<int>
  dir_fd(std::uint32_t root, std::uint32_t dir)
  {
    if (cached_dir_root != root || cached_dir != dir || !cached_dir_fd) {
      cached_dir_fd.close();
      cached_dir_root = UINT32_MAX;
      auto fd = sys::open_beneath(roots[root].fd.get(), dirs[dir] == "/" ? "." : dirs[dir].substr(1),
                                   O_RDONLY | O_DIRECTORY, sys::join_display(roots[root].path, dirs[dir]));
      if (!fd) {
        return std::unexpected(fd.error());
      }
      cached_dir_fd = std::move(*fd);
      cached_dir_root = root;
      cached_dir = dir;
    }
    return cached_dir_fd.get();
  }

  bool
  object_matches(const struct stat& ost, const FileMeta& meta) const
  {
    if (kind == IdentityKind::content_only) {
      return static_cast<std::uint64_t>(ost.st_size) == meta.size;
    }
    return static_cast<std::uint64_t>(ost.st_size) == meta.size && (ost.st_mode & 07777) == meta.mode
           && ost.st_uid == meta.uid && ost.st_gid == meta.gid
           && (kind != IdentityKind::full
               || (ost.st_mtim.tv_sec == meta.mtime_sec
                   && static_cast<std::uint32_t>(ost.st_mtim.tv_nsec) == meta.mtime_nsec));
  }

  enum class LinkResult { linked, already, emlink, changed, failed, eperm };

  // Replaces the candidate's path by a link to object (id, successor).
  LinkResult
  link_path(const Candidate& c, Prepared& p, const ObjectId& id, unsigned successor, const struct stat& ost)
  {
    const std::string disp = display(c);
    auto dfd = dir_fd(c.root, c.dir);
    if (!dfd) {
      if (dfd.error().code == ENOENT || dfd.error().code == ELOOP || dfd.error().code == ENOTDIR
          || dfd.error().code == EXDEV) {
        return LinkResult::changed;
      }
      reporter.error(dfd.error().message);
      return LinkResult::failed;
    }
    const int dirfd = *dfd;
    struct stat cur;
    if (::fstatat(dirfd, c.name.c_str(), &cur, AT_SYMLINK_NOFOLLOW) != 0) {
      return LinkResult::changed;
    }
    if (cur.st_ino == ost.st_ino) {
      return LinkResult::already;
    }
    struct stat now;
    if (::fstat(p.fd.get(), &now) != 0 || cur.st_ino != c.ino || !sys::same_file_state(now, p.st)) {
      return LinkResult::changed;
    }
    if (opt.dry_run) {
      return LinkResult::linked;
    }

    const std::string tmpname = guest_temp_name(c.name);
    const std::string objname = Store::object_name(id, successor);
    if (::linkat(store.fanout_fd(id.fanout()), objname.c_str(), dirfd, tmpname.c_str(), 0) != 0) {
      if (errno == EMLINK) {
        return LinkResult::emlink;
      }
      if (errno == EPERM) {
        return LinkResult::eperm;
      }
      reporter.error(sys::sys_error("link " + store.object_path(id, successor) + " to", disp).message);
      return LinkResult::failed;
    }
    bool exchanged = true;
    if (::renameat2(dirfd, tmpname.c_str(), dirfd, c.name.c_str(), RENAME_EXCHANGE) != 0) {
      if (errno == EPERM) {
        ::unlinkat(dirfd, tmpname.c_str(), 0);
        return LinkResult::eperm;
      }
      if (errno == ENOENT) {
        // The path went away meanwhile (the guest removed it): nothing to
        // replace; the next run looks again.
        ::unlinkat(dirfd, tmpname.c_str(), 0);
        return LinkResult::changed;
      }
      if (errno != EINVAL && errno != ENOSYS) {
        const int err = errno;
        ::unlinkat(dirfd, tmpname.c_str(), 0);
        reporter.error(sys::sys_error("replace", disp, err).message);
        return LinkResult::failed;
      }
      exchanged = false;  // filesystem without RENAME_EXCHANGE: check, then rename over
      struct stat again;
      if (::fstatat(dirfd, c.name.c_str(), &again, AT_SYMLINK_NOFOLLOW) != 0 || again.st_ino != c.ino
          || ::fstat(p.fd.get(), &now) != 0 || !sys::same_file_state(now, p.st)) {
        ::unlinkat(dirfd, tmpname.c_str(), 0);
        return LinkResult::changed;
      }
      if (::renameat(dirfd, tmpname.c_str(), dirfd, c.name.c_str()) != 0) {
        const int err = errno;
        ::unlinkat(dirfd, tmpname.c_str(), 0);
        reporter.error(sys::sys_error("replace", disp, err).message);
        return LinkResult::failed;
      }
      p.st.st_ctim = now.st_ctim;
      return LinkResult::linked;
    }
    // The old file now sits at tmpname. Keep the exchange only if it is the
    // inode that was hashed and its content did not change meanwhile.
    struct stat old;
    const bool ok = ::fstatat(dirfd, tmpname.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0 && old.st_ino == c.ino
                    && ::fstat(p.fd.get(), &now) == 0 && same_content_state(now, p.st);
    if (!ok) {
      if (::renameat2(dirfd, tmpname.c_str(), dirfd, c.name.c_str(), RENAME_EXCHANGE) == 0) {
        ::unlinkat(dirfd, tmpname.c_str(), 0);
      } else {
        reporter.error(sys::sys_error("restore " + disp + " from",
                                       sys::join_display(roots[c.root].path, sys::child_path(dirs[c.dir], tmpname)))
                         .message);
      }
      return LinkResult::changed;
    }
    if (::unlinkat(dirfd, tmpname.c_str(), 0) != 0) {
      reporter.warning(sys::sys_error("remove temporary", sys::child_path(dirs[c.dir], tmpname)).message);
    }
    (void)exchanged;
    ::fstat(p.fd.get(), &now);
    p.st.st_ctim = now.st_ctim;  // our own link count change
    return LinkResult::linked;
  }

  // Makes successor `successor` of an object that reached the link limit,
  // as a verified copy of its predecessor.
  sys::Result<void>
  create_successor(const ObjectId& id, unsigned successor)
  {
    auto src = store.open_object(id, successor - 1);
    if (!src) {
      return std::unexpected(src.error());
    }
    const std::string sdisp = store.object_path(id, successor - 1);
    auto sst = sys::fstat_fd(src->get(), sdisp);
    if (!sst) {
      return std::unexpected(sst.error());
    }
    auto xattrs = sys::read_xattrs(src->get(), sdisp);
    if (!xattrs) {
      return std::unexpected(xattrs.error());
    }
    const FileMeta meta = FileMeta::from_stat(*sst, std::move(*xattrs));
    auto tmp = store.make_temp();
    if (!tmp) {
      return std::unexpected(tmp.error());
    }
    IdentityHasher hasher;
    hasher.start(meta, kind);
    std::vector<char> buf(k_chunk);
    for (;;) {
      auto n = sys::read_full(src->get(), buf.data(), buf.size(), sdisp);
      if (!n) {
        return std::unexpected(n.error());
      }
      if (*n == 0) {
        break;
      }
      hasher.update(buf.data(), *n);
      if (auto w = sys::write_all(tmp->get(), buf.data(), *n, store.path() + "/tmp"); !w) {
        return w;
      }
    }
    if (!(hasher.finish() == id)) {
      return sys::fail(sdisp + ": content does not match its name; run 'pkgunify store fsck'");
    }
    const std::string ndisp = store.object_path(id, successor);
    if (auto m = apply_metadata(tmp->get(), meta, ndisp); !m) {
      return m;
    }
    if (::fdatasync(tmp->get()) != 0) {
      return sys::fail_sys("sync", ndisp);
    }
    auto pub = store.publish(tmp->get(), id, successor);
    if (!pub) {
      return std::unexpected(pub.error());
    }
    if (*pub) {
      ++stats.objects_created;
      stats.bytes_saved -= static_cast<std::int64_t>(meta.size);
    }
    return {};
  }

  void
  count_link(const Candidate& c, const Prepared& p)
  {
    ++stats.linked;
    // The replaced inode is freed when this was its last name.
    struct stat now;
    if (opt.dry_run) {
      if (c.nlink == 1) {
        stats.bytes_saved += static_cast<std::int64_t>(c.size);
      }
    } else if (::fstat(p.fd.get(), &now) == 0 && now.st_nlink == 0) {
      stats.bytes_saved += static_cast<std::int64_t>(c.size);
    }
  }

  void
  fail(const std::string& message)
  {
    ++stats.errors;
    reporter.error(message);
  }

  void
  commit(Prepared& p)
  {
    const std::size_t n = p.end - p.begin;
    stats.bytes_read += p.bytes_read;
    switch (p.outcome) {
    case Outcome::already:
      stats.already_linked += n;
      return;
    case Outcome::fix_protection:
      stats.already_linked += n;
      fix_protection(p);
      return;
    case Outcome::skipped:
      skip(p.reason, n);
      return;
    case Outcome::failed:
      stats.errors += n;
      reporter.error(p.reason);
      return;
    case Outcome::ready:
      break;
    }
    if (reflink) {
      commit_reflink(p);
      return;
    }

    const ObjectId& id = p.id;
    if (opt.dry_run) {
      auto ost = store.stat_object(id, 0);
      const bool exists = (ost && ost->has_value()) || dry_created.contains(id.hex());
      for (std::size_t i = p.begin; i < p.end; ++i) {
        const Candidate& c = candidates[i];
        if (ost && ost->has_value() && (*ost)->st_ino == c.ino) {
          ++stats.already_linked;
          continue;
        }
        if (!exists && i == p.begin) {
          dry_created.insert(id.hex());
          ++stats.objects_created;
          if (!p.adopt) {
            stats.bytes_saved -= static_cast<std::int64_t>(c.size);
          } else {
            continue;  // adopt: the file itself becomes the object
          }
        }
        count_link(c, p);
      }
      return;
    }

    auto lock = store.lock_fanout(id.fanout(), sys::FileLock::Mode::shared);
    if (!lock) {
      stats.errors += n;
      reporter.error(lock.error().message);
      return;
    }

    unsigned successor = 0;
    bool adopted = false;
    std::size_t i = p.begin;
    while (i < p.end) {
      const Candidate& c = candidates[i];
      auto ost = store.stat_object(id, successor);
      if (!ost) {
        fail(ost.error().message + " (for " + display(c) + ")");
        ++i;
        continue;
      }
      if (!ost->has_value()) {
        sys::Result<bool> pub = false;
        if (p.tmp) {
          pub = store.publish(p.tmp.get(), id, successor);
          if (pub && *pub) {
            ++stats.objects_created;
            stats.bytes_saved -= static_cast<std::int64_t>(p.meta.size);
            p.tmp.close();
          }
        } else if (p.adopt && successor == 0 && p.publishes) {
          // p.publishes: a syncfs made this inode durable before commit.
          struct stat now;
          if (::fstat(p.fd.get(), &now) != 0 || !sys::same_file_state(now, p.st)) {
            skip("changed", p.end - i);
            return;
          }
          pub = store.publish(p.fd.get(), id, 0);
          if (pub && *pub) {
            ++stats.objects_created;
            adopted = true;
          }
        } else if (successor > 0) {
          if (auto s = create_successor(id, successor); !s) {
            stats.errors += p.end - i;
            reporter.error(s.error().message);
            return;
          }
        } else {
          // The object existed when the file was hashed and gc removed it
          // since; the next run will link this file.
          skip("store-busy", p.end - i);
          return;
        }
        if (!pub) {
          stats.errors += p.end - i;
          reporter.error(pub.error().message);
          return;
        }
        continue;  // look the (now existing) object up again
      }
      const struct stat& objst = **ost;
      if (!object_matches(objst, p.meta)) {
        stats.errors += p.end - i;
        reporter.error(store.object_path(id, successor)
                       + ": object does not match its name (metadata changed); "
                         "run 'pkgunify store fsck' (needed for "
                       + display(c) + ")");
        return;
      }
      switch (link_protected(c, p, id, successor, objst)) {
      case LinkResult::linked:
        count_link(c, p);
        ++i;
        break;
      case LinkResult::already:
        if (adopted && c.ino == objst.st_ino) {
          ++stats.linked;  // adopted: the file itself became the object
        } else {
          ++stats.already_linked;
        }
        ++i;
        break;
      case LinkResult::emlink:
        ++successor;
        break;
      case LinkResult::changed:
        skip("changed");
        ++i;
        break;
      case LinkResult::failed:
      case LinkResult::eperm:
        ++stats.errors;
        ++i;
        break;
      }
    }
    if (adopted && protector.wanted() != Protection::none) {
      if (auto r = protector.protect(p.fd.get(), store.object_path(id, 0)); !r) {
        fail(r.error().message);
      }
    }
  }

  // Runs link_path with the object's protection lifted where the mode needs
  // it (immutable: always; others: when the kernel says EPERM), under an
  // exclusive lock on the object so that concurrent runs do not restore the
  // flag while another one has it lifted.
  LinkResult
  link_protected(const Candidate& c, Prepared& p, const ObjectId& id, unsigned successor, const struct stat& ost)
  {
    const std::string opath = store.object_path(id, successor);
    sys::Fd objfd;
    sys::FileLock objlock;
    auto open_and_lift = [&]() -> bool {
      auto o = store.open_object(id, successor);
      if (!o) {
        reporter.error(o.error().message);
        return false;
      }
      objfd = std::move(*o);
      auto l = sys::FileLock::acquire(objfd.get(), sys::FileLock::Mode::exclusive, opath);
      if (!l) {
        reporter.error(l.error().message);
        return false;
      }
      objlock = std::move(*l);
      if (auto lifted = protector.lift(objfd.get(), opath); !lifted) {
        reporter.error(lifted.error().message);
        return false;
      }
      return true;
    };
    if (protector.mode() == LinkMode::immutable && !opt.dry_run && !open_and_lift()) {
      return LinkResult::failed;
    }
    LinkResult r = link_path(c, p, id, successor, ost);
    if (r == LinkResult::eperm && !objfd) {
      if (!open_and_lift()) {
        return LinkResult::failed;
      }
      r = link_path(c, p, id, successor, ost);
    }
    if (r == LinkResult::eperm) {
      reporter.error(display(c) + ": operation not permitted while linking it to " + opath
                     + " (is the file or its directory immutable or append-only?)");
      r = LinkResult::failed;
    }
    if (!objfd && r == LinkResult::linked && protector.wanted() != Protection::none && !opt.dry_run) {
      // Modes whose protection allows linkage (iunlink) still protect every
      // object they link to.
      auto o = store.open_object(id, successor);
      if (!o) {
        reporter.error(o.error().message);
      } else {
        objfd = std::move(*o);
      }
    }
    if (objfd) {
      if (auto pr = protector.protect(objfd.get(), opath); !pr) {
        reporter.error(pr.error().message);
      }
    }
    return r;
  }

  // A linked file whose protection does not match the mode (a run that was
  // interrupted while the flag was lifted, or a change of link mode).
  void
  fix_protection(Prepared& p)
  {
    const Candidate& c = candidates[p.begin];
    const std::string disp = display(c);
    const std::string rel = sys::child_path(dirs[c.dir], c.name).substr(1);
    auto fd = sys::open_beneath(roots[c.root].fd.get(), rel, O_RDONLY, disp);
    if (!fd) {
      return;  // gone meanwhile
    }
    auto st = sys::fstat_fd(fd->get(), disp);
    if (!st || st->st_ino != c.ino) {
      return;
    }
    auto lock = sys::FileLock::acquire(fd->get(), sys::FileLock::Mode::exclusive, disp);
    if (!lock) {
      fail(lock.error().message);
      return;
    }
    if (protector.wanted() == Protection::none) {
      if (auto r = protector.lift(fd->get(), disp); !r) {
        fail(r.error().message);
        return;
      }
    } else if (auto r = protector.protect(fd->get(), disp); !r) {
      fail(r.error().message);
      return;
    }
    ++stats.protection_fixed;
  }

  // Reflink mode: publish the clone as the object if it is new, else let the
  // kernel compare and share the file's extents with the object.
  void
  commit_reflink(Prepared& p)
  {
    const std::size_t n = p.end - p.begin;
    const Candidate& c = candidates[p.begin];
    const ObjectId& id = p.id;
    if (opt.dry_run) {
      auto ost = store.stat_object(id, 0);
      if ((ost && ost->has_value()) || dry_created.contains(id.hex())) {
        stats.linked += n;
        stats.bytes_saved += p.was_shared ? 0 : static_cast<std::int64_t>(c.size);
      } else {
        dry_created.insert(id.hex());
        ++stats.objects_created;
        stats.linked += n;
      }
      return;
    }
    auto lock = store.lock_fanout(id.fanout(), sys::FileLock::Mode::shared);
    if (!lock) {
      stats.errors += n;
      reporter.error(lock.error().message);
      return;
    }
    if (p.tmp) {
      auto pub = store.publish(p.tmp.get(), id, 0);
      if (!pub) {
        stats.errors += n;
        reporter.error(pub.error().message);
        return;
      }
      if (*pub) {
        // The object is a clone of this very file: they share every extent.
        ++stats.objects_created;
        stats.linked += n;
        return;
      }
    }
    auto obj = store.open_object(id, 0);
    if (!obj) {
      if (obj.error().code == ENOENT) {
        skip("store-busy", n);
        return;
      }
      stats.errors += n;
      reporter.error(obj.error().message);
      return;
    }
    auto ost = sys::fstat_fd(obj->get(), store.object_path(id, 0));
    if (!ost || !object_matches(*ost, p.meta)) {
      stats.errors += n;
      reporter.error(store.object_path(id, 0)
                     + ": object does not match its name; run 'pkgunify store fsck' "
                       "(needed for "
                     + display(c) + ")");
      return;
    }
    auto r = sys::dedupe_file(obj->get(), p.fd.get(), p.meta.size, display(c));
    if (!r) {
      stats.errors += n;
      reporter.error(r.error().message);
      return;
    }
    if (*r == sys::DedupeResult::differs) {
      skip("changed", n);
      return;
    }
    stats.linked += n;
    if (!p.was_shared) {
      stats.bytes_saved += static_cast<std::int64_t>(c.size);
    }
  }

  void
  clean_leftover(const Leftover& l)
  {
    const std::string disp = display(l.root, l.dir, l.name);
    auto dfd = dir_fd(l.root, l.dir);
    if (!dfd) {
      return;
    }
    struct stat st;
    if (::fstatat(*dfd, l.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      return;
    }
    const std::string original = guest_temp_original(l.name).value_or(std::string());
    if (!original.empty()) {
      struct stat ost;
      if (::fstatat(*dfd, original.c_str(), &ost, AT_SYMLINK_NOFOLLOW) == 0) {
        if (::unlinkat(*dfd, l.name.c_str(), 0) == 0) {
          ++stats.leftovers_cleaned;
        }
      } else if (errno == ENOENT) {
        if (::renameat2(*dfd, l.name.c_str(), *dfd, original.c_str(), RENAME_NOREPLACE) == 0) {
          ++stats.leftovers_cleaned;
        }
      }
      return;
    }
    if (inodes().contains(st.st_ino)) {
      if (::unlinkat(*dfd, l.name.c_str(), 0) == 0) {
        ++stats.leftovers_cleaned;
      }
      return;
    }
    reporter.warning(disp
                     + ": temporary file of an interrupted pkgunify run whose original name is unknown; "
                       "left in place");
  }

  // A temporary name of another run that is working right now is not a
  // leftover: every run holds a shared flock on the store directory while
  // it works, and only a run that gets it exclusively (no other run active)
  // cleans leftovers; the others leave them to the next run that is alone.
  void
  clean_leftovers()
  {
    if (opt.dry_run || !store.exists()) {
      return;
    }
    run_fd = sys::Fd(::openat(store.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!run_fd) {
      reporter.warning(sys::sys_error("open", store.path()).message);
      return;
    }
    if (!leftovers.empty()) {
      if (auto alone = sys::FileLock::try_acquire(run_fd.get(), sys::FileLock::Mode::exclusive, store.path())) {
        for (const auto& l : leftovers) {
          clean_leftover(l);
        }
      }
    }
    // Shared from here on (flock converts the exclusive lock, if held).
    auto lock = sys::FileLock::acquire(run_fd.get(), sys::FileLock::Mode::shared, store.path());
    if (!lock) {
      reporter.warning(lock.error().message);
      return;
    }
    run_lock = std::move(*lock);
  }

  void
  report_progress(std::uint64_t done)
  {
    if (opt.progress) {
      opt.progress(stats, done, candidates.size());
    }
  }

  ScanStats
  run()
  {
    clean_leftovers();
    cached_dir_fd.close();
    cached_dir_root = UINT32_MAX;

    // Inode order: reads follow the disk layout, and the paths of one inode
    // come together so it is read once.
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.ino < b.ino; });
    std::vector<std::pair<std::size_t, std::size_t>> groups;
    for (std::size_t i = 0; i < candidates.size();) {
      std::size_t j = i + 1;
      while (j < candidates.size() && candidates[j].ino == candidates[i].ino) {
        ++j;
      }
      groups.emplace_back(i, j);
      i = j;
    }

    unsigned jobs = opt.jobs ? opt.jobs : std::max(1u, std::thread::hardware_concurrency());
    jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(1, groups.size())));
    // A deep queue lets the workers read on while the committer waits for a
    // syncfs or links a group of files.
    const std::size_t budget = descriptor_budget();
    queue_cap = std::max<std::size_t>(32 * jobs, budget);
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    workers_running = jobs;
    for (unsigned t = 0; t < jobs; ++t) {
      threads.emplace_back([this, &groups, &next] { worker(groups, next); });
    }

    std::uint64_t done = 0;
    auto commit_one = [&](Prepared& p) {
      try {
        commit(p);
      } catch (const std::exception& e) {
        ++stats.errors;
        reporter.error(e.what());
      }
      done += p.end - p.begin;
    };
    // New objects (and adopted guest inodes) become durable before anything
    // links to them. One syncfs covers many: files that publish wait in
    // `durable` until the budget is reached or the workers are done; files
    // whose object exists (published, so durable) are committed at once.
    std::vector<std::unique_ptr<Prepared>> durable;
    auto commit_durable = [&] {
      if (durable.empty()) {
        return;
      }
      if (!opt.dry_run) {
        if (auto s = store.sync(); !s) {
          reporter.warning(s.error().message);
        }
      }
      for (auto& p : durable) {
        commit_one(*p);
      }
      durable.clear();
    };
    auto last_progress = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<Prepared>> batch;
    for (;;) {
      batch.clear();
      {
        std::unique_lock lock(mu);
        cv_get.wait(lock, [this] { return !queue.empty() || workers_running == 0; });
        if (queue.empty()) {
          break;
        }
        while (!queue.empty() && batch.size() < 256) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        cv_put.notify_all();
      }
      for (auto& p : batch) {
        if (p->outcome == Outcome::ready && p->publishes) {
          durable.push_back(std::move(p));
        } else {
          commit_one(*p);
        }
      }
      if (durable.size() >= budget) {
        commit_durable();
      }
      const auto now = std::chrono::steady_clock::now();
      if (now - last_progress > std::chrono::milliseconds(200)) {
        last_progress = now;
        report_progress(done);
      }
    }
    commit_durable();
    for (auto& t : threads) {
      t.join();
    }
    cached_dir_fd.close();
    report_progress(done);
    return stats;
  }
};

Unifier::Unifier(const Store& store, ScanOptions options, Reporter& reporter)
  : m_impl(std::make_unique<Impl>(store, std::move(options), reporter))
{}

Unifier::~Unifier() = default;

std::size_t
Unifier::add_root(const std::string& path, std::shared_ptr<const PackageFilter> filter)
{
  auto fd = sys::open_host_dir(path);
  if (!fd) {
    throw ConfigError("root " + fd.error().message);
  }
  auto st = sys::fstat_fd(fd->get(), path);
  if (!st) {
    throw ConfigError(st.error().message);
  }
  m_impl->store.check_same_filesystem(*st, path);
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') {
    p.pop_back();
  }
  m_impl->roots.push_back({p, std::move(*fd), *st, std::move(filter)});
  return m_impl->roots.size() - 1;
}

void
Unifier::add_tree(std::size_t root)
{
  auto& impl = *m_impl;
  struct Visitor : WalkVisitor
  {
    Impl& impl;
    std::uint32_t root;
    std::uint32_t current = 0;
    Visitor(Impl& i, std::uint32_t r) : impl(i), root(r) {}

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
      impl.consider(root, current, name, st, attributes);
    }

    void
    mount_point(const std::string& /*path*/) override
    {
      impl.skip("other-filesystem");
    }

    void
    error(const std::string& message) override
    {
      ++impl.stats.errors;
      impl.reporter.error(message);
    }
  } visitor(impl, static_cast<std::uint32_t>(root));
  walk_tree(impl.roots[root].fd.get(), impl.roots[root].path, visitor);
}

void
Unifier::add_file(std::size_t root, const std::string& path)
{
  auto& impl = *m_impl;
  const auto slash = path.rfind('/');
  if (path.empty() || path.front() != '/' || slash == std::string::npos || slash + 1 == path.size()) {
    ++impl.stats.errors;
    impl.reporter.error(sys::join_display(impl.roots[root].path, path) + ": not an absolute file path");
    return;
  }
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = path.substr(slash + 1);
  const std::string disp = sys::join_display(impl.roots[root].path, path);
  auto dfd = sys::open_beneath(impl.roots[root].fd.get(), dir == "/" ? "." : dir.substr(1), O_RDONLY | O_DIRECTORY,
                                sys::join_display(impl.roots[root].path, dir));
  if (!dfd) {
    if (dfd.error().code == ENOENT) {
      impl.skip("missing");
      return;
    }
    ++impl.stats.errors;
    impl.reporter.error(dfd.error().message);
    return;
  }
  struct stat st;
  std::uint64_t attributes = 0;
  if (sys::stat_entry(dfd->get(), name.c_str(), st, attributes) != 0) {
    if (errno == ENOENT) {
      impl.skip("missing");
      return;
    }
    ++impl.stats.errors;
    impl.reporter.error(sys::sys_error("stat", disp).message);
    return;
  }
  impl.consider(static_cast<std::uint32_t>(root), impl.intern_dir(dir), name, st, attributes);
}

ScanStats
Unifier::run()
{
  return m_impl->run();
}

}  // namespace pkgunify
