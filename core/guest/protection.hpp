// SPDX-License-Identifier: GPL-2.0-or-later
// Protection of unified files: what keeps one guest from changing a file
// every guest shares. docs/link-modes.md explains the modes.
#pragma once

#include "guest/link_mode.hpp"
#include "sys/error.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pkgunify {

namespace sys {
class ReadLease;
}  // namespace sys

// The Linux-VServer inode attribute calls (vserver syscall, VCMD_fget_iattr
// and VCMD_fset_iattr). An interface, so that the iunlink logic can be tested
// against a fake on kernels without vserver support.
class VserverKernel
{
public:
  static constexpr std::uint32_t k_immutable = 0x00040000;  // IATTR_IMMUTABLE
  static constexpr std::uint32_t k_iunlink = 0x00020000;    // IATTR_IXUNLINK

  virtual ~VserverKernel() = default;
  // Succeeds on a vserver kernel; fails with ENOSYS on a mainline kernel.
  virtual sys::Result<void> probe() = 0;
  virtual sys::Result<std::uint32_t> get_iattr(int fd, std::string_view display) = 0;
  // Sets the bits of `flags` that are in `mask`, clears the other bits of
  // `mask`.
  virtual sys::Result<void> set_iattr(int fd, std::uint32_t flags, std::uint32_t mask, std::string_view display) = 0;
};

// The real syscall (x86_64 number 236).
std::unique_ptr<VserverKernel> make_vserver_kernel();

// FS_IOC_GETFLAGS / FS_IOC_SETFLAGS.
sys::Result<unsigned> get_inode_flags(int fd, std::string_view display);
sys::Result<void> set_inode_flags(int fd, unsigned flags, std::string_view display);

// What protects an inode now.
enum class Protection { none, immutable, iunlink };
std::string_view to_string(Protection p);

// The protection a link mode gives (hardlink, reflink: none).
Protection protection_of(LinkMode mode);

class ProtectionGuard;
struct LiftState;

// What a guard saw of its inode while the protection was off: the lease it
// held across the window (guest/runtime.hpp, sys/lease.hpp) and the inode's
// metadata (owner, mode, size, mtime, xattrs) before and after.
struct LiftCheck
{
  bool opened_for_writing = false;  // the lease broke: some process opened it for writing or truncated it
  bool metadata_changed = false;    // someone changed owner, mode, size, mtime or xattrs meanwhile
  bool repaired = false;            // ... and the guard put them back
  std::string detail;               // what changed, for messages

  [[nodiscard]] bool
  clean() const
  {
    return !opened_for_writing && !metadata_changed;
  }
  // The inode can no longer be trusted to match its store name: quarantine it.
  [[nodiscard]] bool
  tainted() const
  {
    return opened_for_writing || (metadata_changed && !repaired);
  }
};

// Applies one link mode's protection to object inodes, and lifts whatever
// protection an inode carries (so a store can change modes) through a
// ProtectionGuard.
class Protector
{
public:
  // `mode` is resolved (not auto_select). `vserver` must outlive this.
  Protector(LinkMode mode, VserverKernel& vserver);

  [[nodiscard]] LinkMode
  mode() const
  {
    return m_mode;
  }

  // Protects the inode as the mode asks (hardlink, reflink: nothing). The
  // caller holds the inode's InodeLock, or the inode is not yet published.
  sys::Result<void> protect(int fd, std::string_view display);

  // protect() of a published object, under its InodeLock: never inside
  // another run's lift window of that inode, where the flag set would make
  // that run's link to it fail (EPERM) after its lift found nothing to lift.
  sys::Result<void> protect_locked(int fd, std::string_view display);

  // Adoption's proof (a guest's own inode becoming an object): protects
  // the inode under `lease`, taken before it was published, and checks the
  // lease afterwards, all under the inode's InodeLock (as protect_locked).
  // False when someone opened it for writing meanwhile: then the protection
  // is taken off again, and the caller un-publishes it.
  sys::Result<bool> protect_leased(int fd, const sys::ReadLease& lease, std::string_view display);

  // Whether lifting takes the inode's lock (guest/runtime.hpp: a file of
  // the host's runtime directory, never the inode itself) first, so that
  // concurrent pkgunify runs do not restore the protection meanwhile.
  enum class Lock { none, exclusive };

  // Lifts the inode's protection, so that its names can be added, renamed
  // or removed, until the guard restores it. `fd` must be open O_RDONLY and
  // outlive the guard. A protected inode is lifted only under a read lease
  // (refused with EAGAIN while anyone holds it open for writing), recorded in
  // the lift journal first, inside a sys::LiftWindow (termination signals
  // wait), with its metadata noted for restore() to check.
  sys::Result<ProtectionGuard> lift(int fd, std::string_view display, Lock lock = Lock::exclusive);

  [[nodiscard]] sys::Result<Protection> state(int fd, std::string_view display);

  // The protection the mode gives.
  [[nodiscard]] Protection
  wanted() const
  {
    return protection_of(m_mode);
  }

private:
  friend class ProtectionGuard;
  sys::Result<void> apply(int fd, Protection p, std::string_view display);
  sys::Result<void> clear(int fd, std::string_view display);

  LinkMode m_mode;
  VserverKernel& m_vserver;
  bool m_vserver_available;
};

// The one place that takes protection off an inode (FS_IMMUTABLE_FL, the
// vserver immutable and iunlink attributes): lifted while the guard lives,
// restored by restore() or, failing that, when it is destroyed. Move-only.
// No guard waits on anything a guest can hold: the lock is the runtime
// directory's, the lease is refused rather than waited for.
class ProtectionGuard
{
public:
  ProtectionGuard(ProtectionGuard&& other) noexcept;
  ProtectionGuard& operator=(ProtectionGuard&&) = delete;
  ProtectionGuard(const ProtectionGuard&) = delete;
  ProtectionGuard& operator=(const ProtectionGuard&) = delete;
  ~ProtectionGuard();

  // What the inode carried when it was lifted.
  [[nodiscard]] Protection
  lifted() const
  {
    return m_lifted;
  }

  // What restore() puts back: by default what was lifted. Restoring a
  // protection onto an inode that carried none (a new object) opens the
  // same window as a lift: lease, metadata, journal, signals; so that fails
  // too while someone holds the inode open for writing.
  sys::Result<void> restore_as(Protection p);

  // Puts the protection back now and checks the window: a broken lease is
  // reported, changed metadata is put back (lifting again, at most three
  // times). A tainted() inode is lifted once more for `on_tainted` (to move
  // its store name aside, say), still under the lease. The guard is done
  // afterwards.
  using OnTainted = std::function<void(const LiftCheck&)>;
  sys::Result<LiftCheck> restore(const OnTainted& on_tainted = {});

  // The inode stays unprotected: it was removed, or it became private.
  void leave_lifted();

private:
  friend class Protector;
  ProtectionGuard(Protector& protector, int fd, std::string display, Protection lifted,
                  std::unique_ptr<LiftState> state);
  sys::Result<LiftCheck> check_window();

  Protector* m_protector;
  int m_fd;
  std::string m_display;
  Protection m_lifted;
  Protection m_restore;
  std::unique_ptr<LiftState> m_state;
  bool m_done = false;
};

// Link mode immutable's check of a store's filesystem: sets FS_IMMUTABLE_FL
// on the store's unnamed temporary file `fd` and takes it off again.
sys::Result<void> probe_immutable_flag(int fd, std::string_view display);

}  // namespace pkgunify
