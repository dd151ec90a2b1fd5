// SPDX-License-Identifier: GPL-2.0-or-later
// Temporary names of interrupted runs (guest/temp_name.hpp): each is either
// a replacement that was never exchanged (the original is there: remove the
// temporary), or the original itself, swapped out and never removed or
// swapped back (the original name is free: rename it back).
#include "engine/internal/scan_context.hpp"
#include "guest/protection.hpp"
#include "guest/temp_name.hpp"
#include "sys/fs.hpp"
#include "sys/lock.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pkgunify::scan {

namespace {

void
clean_leftover(Context& ctx, const Leftover& l)
{
  auto dfd = ctx.dir_fd(l.root, l.dir);
  if (!dfd) {
    return;
  }
  struct stat st;
  if (::fstatat(*dfd, l.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    return;
  }
  const std::string original = guest_temp_original(l.name).value_or(std::string());
  // A name of a protected inode (the shared object a killed split or scan
  // had swapped out, protected again by recover_lifted) moves only lifted.
  auto lifted_retry = [&](const auto& op) {
    if (op()) {
      return true;
    }
    if (errno != EPERM) {
      return false;
    }
    const std::string display = ctx.display(l.root, l.dir, l.name);
    auto fd = sys::open_regular_at(*dfd, l.name, O_RDONLY, display);
    auto guard =
      fd ? ctx.protector.lift(fd->get(), display) : sys::Result<ProtectionGuard>(std::unexpected(fd.error()));
    if (!guard) {
      ctx.reporter.error(guard.error().message);
      return false;
    }
    const bool done = op();
    (void)guard->restore();
    return done;
  };
  auto remove = [&] { return ::unlinkat(*dfd, l.name.c_str(), 0) == 0; };
  bool cleaned = false;
  if (!original.empty()) {
    struct stat ost;
    if (::fstatat(*dfd, original.c_str(), &ost, AT_SYMLINK_NOFOLLOW) == 0) {
      cleaned = lifted_retry(remove);
    } else if (errno == ENOENT) {
      cleaned =
        lifted_retry([&] { return ::renameat2(*dfd, l.name.c_str(), *dfd, original.c_str(), RENAME_NOREPLACE) == 0; });
    }
  } else if (ctx.object_inodes().contains(st.st_ino)) {
    cleaned = lifted_retry(remove);
  } else {
    ctx.reporter.warning(ctx.display(l.root, l.dir, l.name)
                         + ": temporary file of an interrupted pkgunify run whose original name is unknown; "
                           "left in place");
  }
  if (cleaned) {
    ++ctx.stats.leftovers_cleaned;
  }
}

}  // namespace

// A temporary name of another run that is working right now is not a
// leftover: every run holds a shared flock on the store directory while it
// works, and only a run that gets it exclusively (no other run active)
// cleans leftovers; the others leave them to the next run that is alone.
// The walk runs batches while it goes, so the leftovers it found are
// cleaned at the end: the original names were unified meanwhile or are
// still free, and a rename back leaves the file for the next run.
void
RunLock::hold(Context& ctx)
{
  if (m_held || ctx.opt.dry_run || !ctx.store.exists()) {
    return;
  }
  m_held = true;
  m_fd = sys::Fd(::openat(ctx.store.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!m_fd) {
    ctx.reporter.warning(sys::sys_error("open", ctx.store.path()).message);
    return;
  }
  auto lock = sys::FileLock::acquire(m_fd.get(), sys::FileLock::Mode::shared, ctx.store.path());
  if (!lock) {
    ctx.reporter.warning(lock.error().message);
    return;
  }
  m_lock = std::move(*lock);
}

void
RunLock::clean_leftovers(Context& ctx)
{
  if (ctx.opt.dry_run || !ctx.store.exists() || ctx.leftovers.empty()) {
    return;
  }
  hold(ctx);
  if (!m_fd) {
    return;
  }
  // flock converts a held lock; its shared lock is given up first either way.
  m_lock.release();
  if (auto alone = sys::FileLock::try_acquire(m_fd.get(), sys::FileLock::Mode::exclusive, ctx.store.path())) {
    for (const auto& l : ctx.leftovers) {
      clean_leftover(ctx, l);
    }
  }
}

}  // namespace pkgunify::scan
