// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/gc.hpp"

#include "maintenance/internal/lifter.hpp"
#include "sys/lock.hpp"
#include "sys/reflink.hpp"

#include <sys/statfs.h>

#include <string>

namespace pkgunify {

namespace {

// One gc run over the fan-out directories.
class Gc
{
public:
  Gc(const Store& store, bool dry_run, Reporter& reporter, VserverKernel* vserver)
    : m_store(store)
    , m_dry_run(dry_run)
    , m_reporter(reporter)
    , m_lifter(vserver)
  {}

  GcResult
  run()
  {
    settle_freed_extents();
    for (unsigned f = 0; f < 256; ++f) {
      // Exclusive: no scan links to an object of this directory while gc
      // decides whether it is unreferenced.
      auto lock = m_store.lock_fanout(f, sys::FileLock::Mode::exclusive);
      if (!lock) {
        fail(lock.error().message);
        continue;
      }
      m_store.for_each_object(
        f, [&](const std::string&, const ObjectId& id, unsigned successor) { collect(id, successor); });
    }
    return m_result;
  }

private:
  // Filesystems free the extents of unlinked files in deferred work (btrfs
  // transactions, XFS background inode inactivation): syncfs completes the
  // former, statfs flushes the latter on XFS, so that extent sharing below
  // reflects the guests as they are.
  void
  settle_freed_extents()
  {
    if (auto s = m_store.sync(); !s) {
      m_reporter.warning(s.error().message);
    }
    struct statfs sfs;
    ::fstatfs(m_store.fd(), &sfs);
  }

  // Removes the object when no guest uses it.
  void
  collect(const ObjectId& id, unsigned successor)
  {
    auto st = m_store.stat_object(id, successor);
    if (!st || !*st) {
      return;
    }
    if ((*st)->st_nlink > 1) {
      ++m_result.kept;
      return;
    }
    auto fd = m_store.open_object(id, successor, Store::Atime::may_update);
    if (!fd) {
      return;
    }
    const std::string display = m_store.object_path(id, successor);
    // Reflink objects have no links; they are in use while a guest file
    // shares their extents.
    if (auto sharing = sys::extent_sharing(fd->get(), display); sharing && sharing->shared > 0) {
      ++m_result.kept;
      return;
    }
    if (!m_dry_run && !remove(fd->get(), id, successor, display)) {
      return;
    }
    ++m_result.removed;
    m_result.bytes_freed += static_cast<std::uint64_t>((*st)->st_size);
  }

  bool
  remove(int fd, const ObjectId& id, unsigned successor, const std::string& display)
  {
    auto lifted = m_lifter.protector.lift(fd, display, Protector::Lock::none);
    if (!lifted) {
      fail(lifted.error().message);
      return false;
    }
    if (auto removed = m_store.remove_object(id, successor); !removed) {
      fail(removed.error().message);
      return false;  // the guard protects it again
    }
    lifted->leave_lifted();
    return true;
  }

  void
  fail(const std::string& message)
  {
    ++m_result.errors;
    m_reporter.error(message);
  }

  const Store& m_store;
  const bool m_dry_run;
  Reporter& m_reporter;
  Lifter m_lifter;
  GcResult m_result;
};

}  // namespace

GcResult
store_gc(const Store& store, bool dry_run, Reporter& reporter, VserverKernel* vserver)
{
  return Gc(store, dry_run, reporter, vserver).run();
}

}  // namespace pkgunify
