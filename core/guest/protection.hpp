// Protection of unified files: what keeps one guest from changing a file
// every guest shares. docs/link-modes.md explains the modes.
#pragma once

#include "guest/link_mode.hpp"
#include "sys/error.hpp"

#include <cstdint>
#include <memory>
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

// Applies one link mode's protection to object inodes. Lifting works for
// whatever protection an inode carries, so a store can change modes.
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

  // Removes any protection, so the inode's names can be added, renamed or
  // removed. Returns what it removed.
  sys::Result<Protection> lift(int fd, std::string_view display);

  [[nodiscard]] sys::Result<Protection> state(int fd, std::string_view display);

  // The protection the mode gives.
  [[nodiscard]] Protection wanted() const;

private:
  LinkMode m_mode;
  VserverKernel& m_vserver;
  bool m_vserver_available;
};


}  // namespace pkgunify
