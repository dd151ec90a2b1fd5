// Protection of unified files: what keeps one guest from changing a file
// every guest shares. docs/link-modes.md explains the modes.
#pragma once

#include "guest/link_mode.hpp"
#include "sys/error.hpp"
#include "sys/lock.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pkgunify {

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

  // Protects the inode as the mode asks (hardlink, reflink: nothing).
  sys::Result<void> protect(int fd, std::string_view display);

  // Whether lifting takes an exclusive flock of the inode first, so that
  // concurrent pkgunify runs do not restore the protection meanwhile.
  enum class Lock { none, exclusive };

  // Lifts the inode's protection, so that its names can be added, renamed
  // or removed, until the guard restores it. `fd` must outlive the guard.
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

  // What restore() puts back: by default what was lifted.
  void
  restore_as(Protection p)
  {
    m_restore = p;
  }

  // Puts the protection back now; the guard is done afterwards.
  sys::Result<void> restore();

  // The inode stays unprotected: it was removed, or it became private.
  void
  leave_lifted()
  {
    m_done = true;
  }

private:
  friend class Protector;
  ProtectionGuard(Protector& protector, int fd, std::string display, Protection lifted, sys::FileLock lock);

  Protector* m_protector;
  int m_fd;
  std::string m_display;
  Protection m_lifted;
  Protection m_restore;
  sys::FileLock m_lock;
  bool m_done = false;
};

// Link mode immutable's check of a store's filesystem: sets FS_IMMUTABLE_FL
// on the store's unnamed temporary file `fd` and takes it off again.
sys::Result<void> probe_immutable_flag(int fd, std::string_view display);

}  // namespace pkgunify
