// SPDX-License-Identifier: GPL-2.0-or-later
// A fake Linux-VServer kernel: keeps each inode's iattr bits in memory, so the
// iunlink logic runs on a mainline kernel.
#pragma once

#include "guest/protection.hpp"

#include <sys/stat.h>

#include <map>

namespace pkgunify::test {

class FakeVserverKernel : public VserverKernel
{
public:
  explicit FakeVserverKernel(bool available = true) : m_available(available) {}

  sys::Result<void>
  probe() override
  {
    if (!m_available) {
      return sys::fail("vserver syscall: Function not implemented", ENOSYS);
    }
    return {};
  }

  sys::Result<std::uint32_t>
  get_iattr(int fd, std::string_view /*display*/) override
  {
    ++gets;
    return m_attrs[inode(fd)];
  }

  sys::Result<void>
  set_iattr(int fd, std::uint32_t flags, std::uint32_t mask, std::string_view /*display*/) override
  {
    ++sets;
    auto& a = m_attrs[inode(fd)];
    a = (a & ~mask) | (flags & mask);
    return {};
  }

  std::uint32_t
  attrs_of(const std::string& path) const
  {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return 0;
    }
    auto it = m_attrs.find(st.st_ino);
    return it == m_attrs.end() ? 0 : it->second;
  }

  int gets = 0;
  int sets = 0;

private:
  static ino_t
  inode(int fd)
  {
    struct stat st;
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
  }

  bool m_available;
  std::map<ino_t, std::uint32_t> m_attrs;
};

}  // namespace pkgunify::test
