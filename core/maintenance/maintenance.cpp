#include "maintenance/maintenance.hpp"

#include "sys/exceptions.hpp"
#include "guest/protection.hpp"
#include "sys/fs.hpp"
#include "sys/lock.hpp"
#include "sys/reflink.hpp"
#include "sys/xattr.hpp"
#include "engine/walker.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_set>

namespace pkgunify {

namespace {

std::string
fanout_name(unsigned i)
{
  static const char* hex = "0123456789abcdef";
  return {hex[i >> 4], hex[i & 15]};
}

// Calls fn(name, display path) for each object of fan-out directory `f`
// (the names are read first: fn may remove entries); stray entries are
// passed over.
template<typename Fn>
void
for_each_object(const Store& store, unsigned f, Fn&& fn)
{
  std::vector<std::string> names;
  store.for_each_entry(f, [&](const std::string& name) { names.push_back(name); });
  for (const auto& name : names) {
    ObjectId id;
    unsigned successor = 0;
    if (Store::parse_object_name(f, name, id, successor)) {
      fn(name, store.object_path(f, name));
    }
  }
}

// A Protector that only lifts (mode hardlink wants no protection), for the
// maintenance commands, which work on objects of any mode.
struct Lifter
{
  std::unique_ptr<VserverKernel> own;
  Protector protector;

  explicit Lifter(VserverKernel* vserver)
    : own(vserver ? nullptr : make_vserver_kernel())
    , protector(LinkMode::hardlink, vserver ? *vserver : *own)
  {}
};

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

struct CachestatRange
{
  std::uint64_t off;
  std::uint64_t len;
};

struct Cachestat
{
  std::uint64_t nr_cache;
  std::uint64_t nr_dirty;
  std::uint64_t nr_writeback;
  std::uint64_t nr_evicted;
  std::uint64_t nr_recently_evicted;
};

// Resident page-cache bytes of `fd`: cachestat(2) where the kernel has it,
// else mmap + mincore.
std::optional<std::uint64_t>
resident_bytes(int fd, std::uint64_t size, std::string& method)
{
  static const long page = ::sysconf(_SC_PAGESIZE);
  CachestatRange range{0, 0};
  Cachestat cs{};
  if (::syscall(SYS_cachestat, fd, &range, &cs, 0) == 0) {
    method = "cachestat";
    return cs.nr_cache * static_cast<std::uint64_t>(page);
  }
  if (size == 0) {
    return 0;
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    return std::nullopt;
  }
  const std::size_t pages = (size + static_cast<std::uint64_t>(page) - 1) / static_cast<std::uint64_t>(page);
  std::vector<unsigned char> vec(pages);
  std::optional<std::uint64_t> out;
  if (::mincore(map, size, vec.data()) == 0) {
    std::uint64_t n = 0;
    for (const unsigned char v : vec) {
      n += v & 1;
    }
    out = n * static_cast<std::uint64_t>(page);
    method = "mincore";
  }
  ::munmap(map, size);
  return out;
}

bool
reflink_capable(int fd)
{
  struct statfs sfs;
  return ::fstatfs(fd, &sfs) == 0
         && (sfs.f_type == BTRFS_SUPER_MAGIC || sfs.f_type == static_cast<decltype(sfs.f_type)>(XFS_SUPER_MAGIC));
}

}  // namespace

StoreStats
store_stats(const Store& store, Reporter& reporter, MemoryStats* memory)
{
  StoreStats s;
  for (unsigned f = 0; f < 256; ++f) {
    store.for_each_entry(f, [&](const std::string& name) {
      ObjectId id;
      unsigned successor = 0;
      if (!Store::parse_object_name(f, name, id, successor)) {
        ++s.stray;
        return;
      }
      struct stat st;
      if (::fstatat(store.fanout_fd(f), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) {
          reporter.error(sys::sys_error("stat", store.object_path(f, name)).message);
        }
        return;
      }
      ++s.objects;
      if (successor > 0) {
        ++s.successors;
      }
      const auto size = static_cast<std::uint64_t>(st.st_size);
      const std::uint64_t guests = st.st_nlink > 0 ? st.st_nlink - 1 : 0;
      s.links += guests;
      s.bytes_stored += size;
      if (guests == 0) {
        ++s.unreferenced;
        s.unreferenced_bytes += size;
      } else {
        s.bytes_saved += size * (guests - 1);
      }
      if (memory) {
        sys::Fd fd(::openat(store.fanout_fd(f), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
        if (!fd) {
          return;
        }
        if (auto r = resident_bytes(fd.get(), size, memory->method)) {
          memory->resident_bytes += *r;
          if (guests > 1) {
            memory->saved_bytes += *r * (guests - 1);
          }
        }
      }
    });
  }
  return s;
}

FsckResult
store_fsck(const Store& store, bool repair, unsigned jobs, Reporter& reporter, VserverKernel* vserver)
{
  FsckResult result;
  Lifter lifter(vserver);
  std::mutex mu;
  std::atomic<unsigned> next{0};
  auto check_fanout = [&](unsigned f, std::vector<char>& buf) {
    std::vector<std::string> names;
    store.for_each_entry(f, [&](const std::string& name) { names.push_back(name); });
    for (const auto& name : names) {
      const std::string disp = store.object_path(f, name);
      ObjectId id;
      unsigned successor = 0;
      if (!Store::parse_object_name(f, name, id, successor)) {
        std::lock_guard lock(mu);
        ++result.stray;
        reporter.warning(disp + ": not an object (stray entry)");
        continue;
      }
      sys::Fd fd(::openat(store.fanout_fd(f), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
      if (!fd) {
        if (errno != ENOENT) {
          std::lock_guard lock(mu);
          ++result.errors;
          reporter.error(sys::sys_error("open", disp).message);
        }
        continue;
      }
      auto st = sys::fstat_fd(fd.get(), disp);
      auto xattrs = st ? sys::read_xattrs(fd.get(), disp) : std::unexpected(st.error());
      if (!st || !xattrs || !S_ISREG(st->st_mode)) {
        std::lock_guard lock(mu);
        ++result.errors;
        reporter.error(!st ? st.error().message : !xattrs ? xattrs.error().message : disp + ": not a regular file");
        continue;
      }
      const FileMeta meta = FileMeta::from_stat(*st, std::move(*xattrs));
      // The name does not say which identity kind made the object: hash all
      // kinds in the same read.
      IdentityHasher full;
      IdentityHasher no_mtime;
      IdentityHasher content;
      full.start(meta, IdentityKind::full);
      no_mtime.start(meta, IdentityKind::ignore_mtime);
      content.start(meta, IdentityKind::content_only);
      std::uint64_t total = 0;
      bool read_ok = true;
      for (;;) {
        auto n = sys::read_full(fd.get(), buf.data(), buf.size(), disp);
        if (!n) {
          std::lock_guard lock(mu);
          ++result.errors;
          reporter.error(n.error().message);
          read_ok = false;
          break;
        }
        if (*n == 0) {
          break;
        }
        full.update(buf.data(), *n);
        no_mtime.update(buf.data(), *n);
        content.update(buf.data(), *n);
        total += *n;
      }
      if (!read_ok) {
        continue;
      }
      const bool ok = full.finish() == id || no_mtime.finish() == id || content.finish() == id;
      std::lock_guard lock(mu);
      ++result.checked;
      result.bytes_read += total;
      if (ok) {
        continue;
      }
      ++result.corrupt;
      reporter.error(disp + ": content or metadata do not match the object's name");
      if (!repair) {
        continue;
      }
      // A protected inode's names cannot be moved: lift, move, protect again
      // (the guests linked to it keep their files and their protection).
      auto lifted = lifter.protector.lift(fd.get(), disp, Protector::Lock::none);
      if (!lifted) {
        ++result.errors;
        reporter.error(lifted.error().message);
        continue;
      }
      const std::string qname = fanout_name(f) + name + "." + sys::random_hex(4);
      if (::renameat(store.fanout_fd(f), name.c_str(), store.quarantine_fd(), qname.c_str()) == 0) {
        ++result.quarantined;
        reporter.warning(disp + ": moved to " + store.path() + "/quarantine/" + qname
                         + " (guests linked to it keep their files)");
      } else {
        ++result.errors;
        reporter.error(sys::sys_error("quarantine", disp).message);
      }
      if (auto r = lifted->restore(); !r) {
        ++result.errors;
        reporter.error(r.error().message);
      }
    }
  };
  unsigned n = jobs ? jobs : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < n; ++t) {
    threads.emplace_back([&] {
      std::vector<char> buf(1 << 20);
      for (unsigned f; (f = next.fetch_add(1)) < 256;) {
        try {
          check_fanout(f, buf);
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          ++result.errors;
          reporter.error(e.what());
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  return result;
}

GcResult
store_gc(const Store& store, bool dry_run, Reporter& reporter, VserverKernel* vserver)
{
  GcResult result;
  Lifter lifter(vserver);
  // Filesystems free the extents of unlinked files in deferred work (btrfs
  // transactions, XFS background inode inactivation): syncfs completes the
  // former, statfs flushes the latter on XFS, so that extent sharing below
  // reflects the guests as they are.
  if (auto s = store.sync(); !s) {
    reporter.warning(s.error().message);
  }
  struct statfs sfs;
  ::fstatfs(store.fd(), &sfs);
  for (unsigned f = 0; f < 256; ++f) {
    // Exclusive: no scan links to an object of this directory while gc
    // decides whether it is unreferenced.
    auto lock = store.lock_fanout(f, sys::FileLock::Mode::exclusive);
    if (!lock) {
      ++result.errors;
      reporter.error(lock.error().message);
      continue;
    }
    for_each_object(store, f, [&](const std::string& name, const std::string& disp) {
      struct stat st;
      if (::fstatat(store.fanout_fd(f), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        return;
      }
      if (st.st_nlink > 1) {
        ++result.kept;
        return;
      }
      sys::Fd fd(::openat(store.fanout_fd(f), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) {
        return;
      }
      // Reflink objects have no links; they are in use while a guest file
      // shares their extents.
      if (auto sharing = sys::extent_sharing(fd.get(), disp); sharing && sharing->shared > 0) {
        ++result.kept;
        return;
      }
      if (!dry_run) {
        auto lifted = lifter.protector.lift(fd.get(), disp, Protector::Lock::none);
        if (!lifted) {
          ++result.errors;
          reporter.error(lifted.error().message);
          return;
        }
        if (::unlinkat(store.fanout_fd(f), name.c_str(), 0) != 0) {
          ++result.errors;
          reporter.error(sys::sys_error("remove", disp).message);
          return;  // the guard protects it again
        }
        lifted->leave_lifted();
      }
      ++result.removed;
      result.bytes_freed += static_cast<std::uint64_t>(st.st_size);
    });
  }
  return result;
}

UnprotectResult
store_unprotect(const Store& store, bool dry_run, Reporter& reporter)
{
  UnprotectResult result;
  Lifter lifter(nullptr);
  for (unsigned f = 0; f < 256; ++f) {
    for_each_object(store, f, [&](const std::string& name, const std::string& disp) {
      sys::Fd fd(::openat(store.fanout_fd(f), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) {
        if (errno != ENOENT) {
          ++result.errors;
          reporter.error(sys::sys_error("open", disp).message);
        }
        return;
      }
      auto flags = get_inode_flags(fd.get(), disp);
      if (!flags || !(*flags & FS_IMMUTABLE_FL)) {
        ++result.unchanged;  // no inode flags at all: nothing is protected
        return;
      }
      if (!dry_run) {
        // The lock release and scans take: no scan restores the flag meanwhile.
        auto lifted = lifter.protector.lift(fd.get(), disp);
        if (lifted) {
          lifted->leave_lifted();
        }
        if (!lifted) {
          ++result.errors;
          reporter.error(lifted.error().message);
          return;
        }
      }
      ++result.lifted;
    });
  }
  return result;
}

std::vector<RootStatus>
root_status(const Store& store, const Policy& policy, const std::vector<std::string>& roots, Reporter& reporter,
            const FileModeFn& each_file, VserverKernel* vserver)
{
  const auto inodes = store.object_inodes();
  Lifter lifter(vserver);
  VserverKernel& kernel = vserver ? *vserver : *lifter.own;
  const bool has_vserver = static_cast<bool>(kernel.probe());
  std::vector<RootStatus> out;
  for (const auto& root : roots) {
    auto fd = sys::open_host_dir(root);
    if (!fd) {
      throw ConfigError("root " + fd.error().message);
    }
    auto rst = sys::fstat_fd(fd->get(), root);
    if (!rst) {
      throw ConfigError(rst.error().message);
    }
    store.check_same_filesystem(*rst, root);

    struct Visitor : WalkVisitor
    {
      const Store& store;
      const Policy& policy;
      const std::unordered_set<ino_t>& inodes;
      Reporter& reporter;
      const FileModeFn& each_file;
      Protector& protector;
      bool has_vserver;
      int root_fd;
      bool reflinks;
      RootStatus status;

      Visitor(const Store& s, const Policy& p, const std::unordered_set<ino_t>& i, Reporter& r, const FileModeFn& e,
              Protector& pr, bool vs, int rfd)
        : store(s)
        , policy(p)
        , inodes(i)
        , reporter(r)
        , each_file(e)
        , protector(pr)
        , has_vserver(vs)
        , root_fd(rfd)
        , reflinks(reflink_capable(rfd))
      {}

      bool
      enter_dir(const std::string& /*dir*/, const struct stat& st) override
      {
        return !(st.st_ino == store.ino() && st.st_dev == store.dev());
      }

      std::string_view
      mode_of(const std::string& path, const struct stat& st, std::uint64_t attributes)
      {
        if (st.st_nlink > 1 && inodes.contains(st.st_ino)) {
          if (has_vserver) {
            // Ask the kernel: statx does not show the iunlink attribute.
            auto fd = sys::open_beneath(root_fd, path.substr(1), O_RDONLY, path);
            if (fd) {
              if (auto p = protector.state(fd->get(), path); p && *p != Protection::none) {
                return to_string(*p);
              }
            }
          }
          return (attributes & STATX_ATTR_IMMUTABLE) ? "immutable" : "hardlink";
        }
        if (reflinks && st.st_size > 0) {
          auto fd = sys::open_beneath(root_fd, path.substr(1), O_RDONLY, path);
          if (fd) {
            auto sharing = sys::extent_sharing(fd->get(), path);
            if (sharing && sharing->extents > 0 && sharing->shared == sharing->extents) {
              return "reflink";
            }
          }
        }
        return {};
      }

      void
      entry(const std::string& dir, const std::string& name, const struct stat& st, std::uint64_t attributes) override
      {
        if (!S_ISREG(st.st_mode)) {
          return;
        }
        const auto size = static_cast<std::uint64_t>(st.st_size);
        ++status.files;
        status.bytes += size;
        const std::string path = sys::child_path(dir, name);
        const bool candidate = !policy.excludes(path) && size >= policy.min_size;
        if (candidate) {
          ++status.candidates;
          status.candidate_bytes += size;
        }
        const std::string_view mode = (candidate || st.st_nlink > 1) ? mode_of(path, st, attributes) : "";
        if (mode.empty()) {
          return;
        }
        ++status.unified_files;
        status.unified_bytes += size;
        ++status.modes[std::string(mode)];
        if (mode != "reflink") {
          // Each of the n-1 guest names carries (n-2)/(n-1) of the saving.
          const std::uint64_t guests = st.st_nlink - 1;
          status.saved_bytes += guests > 1 ? size * (guests - 1) / guests : 0;
        }
        if (each_file) {
          each_file(status.root, path, mode);
        }
      }

      void
      mount_point(const std::string& /*path*/) override
      {}

      void
      error(const std::string& message) override
      {
        reporter.error(message);
      }
    } visitor(store, policy, inodes, reporter, each_file, lifter.protector, has_vserver, fd->get());
    visitor.status.root = root;
    walk_tree(fd->get(), root, visitor);
    out.push_back(visitor.status);
  }
  return out;
}

}  // namespace pkgunify
