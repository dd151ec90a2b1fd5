// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/xattr.hpp"

#include <sys/xattr.h>

#include <algorithm>

namespace pkgunify::sys {

Result<Xattrs>
read_xattrs(int fd, std::string_view display)
{
  std::string names;
  for (;;) {
    const ssize_t len = ::flistxattr(fd, nullptr, 0);
    if (len < 0) {
      if (errno == ENOTSUP) {
        return Xattrs{};
      }
      return fail_sys("list xattrs of", display);
    }
    if (len == 0) {
      return Xattrs{};
    }
    names.resize(static_cast<std::size_t>(len));
    const ssize_t got = ::flistxattr(fd, names.data(), names.size());
    if (got >= 0) {
      names.resize(static_cast<std::size_t>(got));
      break;
    }
    if (errno != ERANGE) {
      return fail_sys("list xattrs of", display);
    }
  }

  Xattrs out;
  std::size_t pos = 0;
  while (pos < names.size()) {
    const std::size_t end = names.find('\0', pos);
    std::string name = names.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? names.size() : end + 1;
    if (name.empty()) {
      continue;
    }
    std::string value;
    for (;;) {
      const ssize_t vlen = ::fgetxattr(fd, name.c_str(), nullptr, 0);
      if (vlen < 0) {
        if (errno == ENODATA) {
          break;  // removed meanwhile
        }
        return fail_sys("read xattr " + name + " of", display);
      }
      value.resize(static_cast<std::size_t>(vlen));
      const ssize_t got = ::fgetxattr(fd, name.c_str(), value.data(), value.size());
      if (got >= 0) {
        value.resize(static_cast<std::size_t>(got));
        out.emplace_back(std::move(name), std::move(value));
        break;
      }
      if (errno != ERANGE) {
        return fail_sys("read xattr " + name + " of", display);
      }
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<void>
write_xattrs(int fd, const Xattrs& xattrs, std::string_view display)
{
  for (const auto& [name, value] : xattrs) {
    if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0) {
      return fail_sys("set xattr " + name + " on", display);
    }
  }
  return {};
}

}  // namespace pkgunify::sys
