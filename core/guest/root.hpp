// SPDX-License-Identifier: GPL-2.0-or-later
// The one way to open a guest root an admin names: every command that works
// on roots (scan, status, verify, list, the hooks) opens it here, and
// resolves what lies inside it beneath the descriptor (sys/fs.hpp).
#pragma once

#include "sys/fd.hpp"

#include <sys/stat.h>

#include <string>

namespace pkgunify {

struct GuestRoot
{
  std::string path;  // as given, without trailing '/' ("/" stays "/")
  sys::Fd fd;        // the root directory
  struct stat st = {};
};

// Opens the directory `path` (a host path: symlinks on the way are the
// admin's and followed). Throws ConfigError naming the root when it cannot
// be opened or is no directory. Callers that need the root on the store's
// filesystem check it with Store::check_same_filesystem(root.st, root.path).
GuestRoot open_root(const std::string& path);

}  // namespace pkgunify
