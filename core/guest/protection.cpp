#include "guest/protection.hpp"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <utility>

namespace pkgunify {

namespace {

constexpr long k_vserver_syscall = 236;  // x86_64 __NR_vserver

constexpr std::uint32_t
vc_cmd(std::uint32_t category, std::uint32_t command, std::uint32_t version)
{
  return ((category & 0x3f) << 24) | ((command & 0xff) << 16) | (version & 0xfff);
}

constexpr std::uint32_t k_vcmd_get_version = vc_cmd(0, 0, 0);
constexpr std::uint32_t k_vcmd_fget_iattr = vc_cmd(38, 3, 0);
constexpr std::uint32_t k_vcmd_fset_iattr = vc_cmd(38, 4, 0);

struct VcmdCtxFiattrV0
{
  std::uint32_t tag;
  std::uint32_t flags;
  std::uint32_t mask;
};

class RealVserverKernel : public VserverKernel
{
public:
  sys::Result<void>
  probe() override
  {
    if (::syscall(k_vserver_syscall, k_vcmd_get_version, 0, nullptr) < 0) {
      return sys::fail_sys("vserver syscall", "(VCMD_get_version)");
    }
    return {};
  }

  sys::Result<std::uint32_t>
  get_iattr(int fd, std::string_view display) override
  {
    VcmdCtxFiattrV0 data{};
    if (::syscall(k_vserver_syscall, k_vcmd_fget_iattr, fd, &data) < 0) {
      return sys::fail_sys("get vserver attributes of", display);
    }
    return data.flags & data.mask;
  }

  sys::Result<void>
  set_iattr(int fd, std::uint32_t flags, std::uint32_t mask, std::string_view display) override
  {
    VcmdCtxFiattrV0 data{0, flags & mask, mask};
    if (::syscall(k_vserver_syscall, k_vcmd_fset_iattr, fd, &data) < 0) {
      return sys::fail_sys("set vserver attributes of", display);
    }
    return {};
  }
};

}  // namespace

std::unique_ptr<VserverKernel>
make_vserver_kernel()
{
  return std::make_unique<RealVserverKernel>();
}

sys::Result<unsigned>
get_inode_flags(int fd, std::string_view display)
{
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
    return sys::fail_sys("get inode flags of", display);
  }
  return static_cast<unsigned>(flags);
}

sys::Result<void>
set_inode_flags(int fd, unsigned flags, std::string_view display)
{
  int f = static_cast<int>(flags);
  if (::ioctl(fd, FS_IOC_SETFLAGS, &f) != 0) {
    return sys::fail_sys("set inode flags of", display);
  }
  return {};
}

std::string_view
to_string(Protection p)
{
  switch (p) {
  case Protection::none:
    return "none";
  case Protection::immutable:
    return "immutable";
  case Protection::iunlink:
    return "iunlink";
  }
  return "?";
}

Protection
protection_of(LinkMode mode)
{
  switch (mode) {
  case LinkMode::iunlink:
    return Protection::iunlink;
  case LinkMode::immutable:
    return Protection::immutable;
  default:
    return Protection::none;
  }
}

Protector::Protector(LinkMode mode, VserverKernel& vserver)
  : m_mode(mode)
  , m_vserver(vserver)
  , m_vserver_available(static_cast<bool>(vserver.probe()))
{}

sys::Result<Protection>
Protector::state(int fd, std::string_view display)
{
  if (m_vserver_available) {
    auto attrs = m_vserver.get_iattr(fd, display);
    if (!attrs) {
      return std::unexpected(attrs.error());
    }
    if ((*attrs & VserverKernel::k_immutable) && (*attrs & VserverKernel::k_iunlink)) {
      return Protection::iunlink;
    }
    if (*attrs & VserverKernel::k_immutable) {
      return Protection::immutable;
    }
  }
  auto flags = get_inode_flags(fd, display);
  if (!flags) {
    if (flags.error().code == ENOTTY || flags.error().code == EOPNOTSUPP) {
      return Protection::none;
    }
    return std::unexpected(flags.error());
  }
  return (*flags & FS_IMMUTABLE_FL) ? Protection::immutable : Protection::none;
}

sys::Result<void>
Protector::protect(int fd, std::string_view display)
{
  return apply(fd, wanted(), display);
}

sys::Result<void>
Protector::apply(int fd, Protection p, std::string_view display)
{
  switch (p) {
  case Protection::none:
    return {};
  case Protection::iunlink: {
    const std::uint32_t bits = VserverKernel::k_immutable | VserverKernel::k_iunlink;
    return m_vserver.set_iattr(fd, bits, bits, display);
  }
  case Protection::immutable: {
    auto flags = get_inode_flags(fd, display);
    if (!flags) {
      return std::unexpected(flags.error());
    }
    if (*flags & FS_IMMUTABLE_FL) {
      return {};
    }
    return set_inode_flags(fd, *flags | FS_IMMUTABLE_FL, display);
  }
  }
  return {};
}

sys::Result<void>
Protector::clear(int fd, std::string_view display)
{
  if (m_vserver_available) {
    const std::uint32_t bits = VserverKernel::k_immutable | VserverKernel::k_iunlink;
    return m_vserver.set_iattr(fd, 0, bits, display);
  }
  auto flags = get_inode_flags(fd, display);
  if (!flags) {
    return std::unexpected(flags.error());
  }
  return set_inode_flags(fd, *flags & ~static_cast<unsigned>(FS_IMMUTABLE_FL), display);
}

sys::Result<ProtectionGuard>
Protector::lift(int fd, std::string_view display, Lock lock)
{
  sys::FileLock held;
  if (lock == Lock::exclusive) {
    auto l = sys::FileLock::acquire(fd, sys::FileLock::Mode::exclusive, display);
    if (!l) {
      return std::unexpected(l.error());
    }
    held = std::move(*l);
  }
  auto current = state(fd, display);
  if (!current) {
    return std::unexpected(current.error());
  }
  if (*current != Protection::none) {
    if (auto r = clear(fd, display); !r) {
      return std::unexpected(r.error());
    }
  }
  return ProtectionGuard(*this, fd, std::string(display), *current, std::move(held));
}

ProtectionGuard::ProtectionGuard(Protector& protector, int fd, std::string display, Protection lifted,
                                 sys::FileLock lock)
  : m_protector(&protector)
  , m_fd(fd)
  , m_display(std::move(display))
  , m_lifted(lifted)
  , m_restore(lifted)
  , m_lock(std::move(lock))
{}

ProtectionGuard::ProtectionGuard(ProtectionGuard&& other) noexcept
  : m_protector(other.m_protector)
  , m_fd(other.m_fd)
  , m_display(std::move(other.m_display))
  , m_lifted(other.m_lifted)
  , m_restore(other.m_restore)
  , m_lock(std::move(other.m_lock))
  , m_done(std::exchange(other.m_done, true))
{}

ProtectionGuard::~ProtectionGuard()
{
  (void)restore();
}

sys::Result<void>
ProtectionGuard::restore()
{
  if (m_done) {
    return {};
  }
  m_done = true;
  return m_protector->apply(m_fd, m_restore, m_display);
}

sys::Result<void>
probe_immutable_flag(int fd, std::string_view display)
{
  auto flags = get_inode_flags(fd, display);
  if (!flags) {
    return std::unexpected(flags.error());
  }
  if (auto set = set_inode_flags(fd, *flags | FS_IMMUTABLE_FL, display); !set) {
    return set;
  }
  return set_inode_flags(fd, *flags, display);
}

}  // namespace pkgunify
