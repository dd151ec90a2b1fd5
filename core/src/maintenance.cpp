#include "maintenance.hpp"

#include "exceptions.hpp"
#include "util/fs.hpp"
#include "util/xattr.hpp"
#include "walker.hpp"

#include <fcntl.h>
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

} // namespace

StoreStats
store_stats(const Store& store, Reporter& reporter)
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
          reporter.error(util::sys_error("stat", store.object_path(f, name)).message);
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
    });
  }
  return s;
}

FsckResult
store_fsck(const Store& store, bool repair, unsigned jobs, Reporter& reporter)
{
  FsckResult result;
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
      util::Fd fd(::openat(store.fanout_fd(f), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
      if (!fd) {
        if (errno != ENOENT) {
          std::lock_guard lock(mu);
          ++result.errors;
          reporter.error(util::sys_error("open", disp).message);
        }
        continue;
      }
      auto st = util::fstat_fd(fd.get(), disp);
      auto xattrs = st ? util::read_xattrs(fd.get(), disp) : std::unexpected(st.error());
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
      full.start(meta, IdentityKind::full);
      no_mtime.start(meta, IdentityKind::ignore_mtime);
      std::uint64_t total = 0;
      bool read_ok = true;
      for (;;) {
        auto n = util::read_full(fd.get(), buf.data(), buf.size(), disp);
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
        total += *n;
      }
      if (!read_ok) {
        continue;
      }
      const bool ok = full.finish() == id || no_mtime.finish() == id;
      std::lock_guard lock(mu);
      ++result.checked;
      result.bytes_read += total;
      if (ok) {
        continue;
      }
      ++result.corrupt;
      reporter.error(disp + ": content or metadata do not match the object's name");
      if (repair) {
        const std::string qname = fanout_name(f) + name + "." + util::random_hex(4);
        if (::renameat(store.fanout_fd(f), name.c_str(), store.quarantine_fd(), qname.c_str()) == 0) {
          ++result.quarantined;
          reporter.warning(disp + ": moved to " + store.path() + "/quarantine/" + qname
                           + " (guests linked to it keep their files)");
        } else {
          ++result.errors;
          reporter.error(util::sys_error("quarantine", disp).message);
        }
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
store_gc(const Store& store, bool dry_run, Reporter& reporter)
{
  GcResult result;
  for (unsigned f = 0; f < 256; ++f) {
    // Exclusive: no scan links to an object of this directory while gc
    // decides whether it is unreferenced.
    auto lock = store.lock_fanout(f, util::FileLock::Mode::exclusive);
    if (!lock) {
      ++result.errors;
      reporter.error(lock.error().message);
      continue;
    }
    std::vector<std::string> names;
    store.for_each_entry(f, [&](const std::string& name) { names.push_back(name); });
    for (const auto& name : names) {
      ObjectId id;
      unsigned successor = 0;
      if (!Store::parse_object_name(f, name, id, successor)) {
        continue;
      }
      struct stat st;
      if (::fstatat(store.fanout_fd(f), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        continue;
      }
      if (st.st_nlink > 1) {
        ++result.kept;
        continue;
      }
      if (!dry_run && ::unlinkat(store.fanout_fd(f), name.c_str(), 0) != 0) {
        ++result.errors;
        reporter.error(util::sys_error("remove", store.object_path(f, name)).message);
        continue;
      }
      ++result.removed;
      result.bytes_freed += static_cast<std::uint64_t>(st.st_size);
    }
  }
  return result;
}

std::vector<RootStatus>
root_status(const Store& store, const Policy& policy, const std::vector<std::string>& roots, Reporter& reporter)
{
  const auto inodes = store.object_inodes();
  std::vector<RootStatus> out;
  for (const auto& root : roots) {
    auto fd = util::open_host_dir(root);
    if (!fd) {
      throw ConfigError("root " + fd.error().message);
    }
    auto rst = util::fstat_fd(fd->get(), root);
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
      RootStatus status;

      Visitor(const Store& s, const Policy& p, const std::unordered_set<ino_t>& i, Reporter& r)
        : store(s), policy(p), inodes(i), reporter(r)
      {
      }

      bool
      enter_dir(const std::string& /*dir*/, const struct stat& st) override
      {
        return !(st.st_ino == store.ino() && st.st_dev == store.dev());
      }

      void
      entry(const std::string& dir, const std::string& name, const struct stat& st) override
      {
        if (!S_ISREG(st.st_mode)) {
          return;
        }
        const auto size = static_cast<std::uint64_t>(st.st_size);
        ++status.files;
        status.bytes += size;
        const std::string path = child_path(dir, name);
        if (!policy.excludes(path) && size >= policy.min_size) {
          ++status.candidates;
          status.candidate_bytes += size;
        }
        if (st.st_nlink > 1 && inodes.contains(st.st_ino)) {
          ++status.unified_files;
          status.unified_bytes += size;
          // Each of the n-1 guest names carries (n-2)/(n-1) of the saving.
          const std::uint64_t guests = st.st_nlink - 1;
          status.saved_bytes += guests > 1 ? size * (guests - 1) / guests : 0;
        }
      }

      void
      mount_point(const std::string& /*path*/) override
      {
      }

      void
      error(const std::string& message) override
      {
        reporter.error(message);
      }
    } visitor(store, policy, inodes, reporter);
    visitor.status.root = root;
    walk_tree(fd->get(), root, visitor);
    out.push_back(visitor.status);
  }
  return out;
}

} // namespace pkgunify
