// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/root.hpp"

#include "sys/exceptions.hpp"
#include "sys/fs.hpp"

namespace pkgunify {

GuestRoot
open_root(const std::string& path)
{
  auto fd = sys::open_host_dir(path);
  if (!fd) {
    throw ConfigError("root " + fd.error().message);
  }
  auto st = sys::fstat_fd(fd->get(), path);
  if (!st) {
    throw ConfigError(st.error().message);
  }
  GuestRoot root{path, std::move(*fd), *st};
  while (root.path.size() > 1 && root.path.back() == '/') {
    root.path.pop_back();
  }
  return root;
}

}  // namespace pkgunify
