#include "guest/protection.hpp"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

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

Protector::Protector(LinkMode mode, VserverKernel& vserver)
  : m_mode(mode)
  , m_vserver(vserver)
  , m_vserver_available(static_cast<bool>(vserver.probe()))
{}

Protection
Protector::wanted() const
{
  switch (m_mode) {
  case LinkMode::iunlink:
    return Protection::iunlink;
  case LinkMode::immutable:
    return Protection::immutable;
  default:
    return Protection::none;
  }
}

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
  switch (wanted()) {
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

sys::Result<Protection>
Protector::lift(int fd, std::string_view display)
{
  auto current = state(fd, display);
  if (!current || *current == Protection::none) {
    return current;
  }
  if (m_vserver_available) {
    const std::uint32_t bits = VserverKernel::k_immutable | VserverKernel::k_iunlink;
    if (auto r = m_vserver.set_iattr(fd, 0, bits, display); !r) {
      return std::unexpected(r.error());
    }
    return current;
  }
  auto flags = get_inode_flags(fd, display);
  if (!flags) {
    return std::unexpected(flags.error());
  }
  if (auto r = set_inode_flags(fd, *flags & ~static_cast<unsigned>(FS_IMMUTABLE_FL), display); !r) {
    return std::unexpected(r.error());
  }
  return current;
}

}  // namespace pkgunify
