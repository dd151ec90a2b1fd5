// SPDX-License-Identifier: GPL-2.0-or-later
// Extended attributes of an open file, as raw bytes.
#pragma once

#include "sys/error.hpp"

#include <string>
#include <utility>
#include <vector>

namespace pkgunify::sys {

// (name, value) pairs sorted by name (bytewise).
using Xattrs = std::vector<std::pair<std::string, std::string>>;

// Reads every extended attribute of `fd` (security.*, system.posix_acl_*,
// trusted.* for root, user.*). A filesystem without xattr support gives an
// empty list.
Result<Xattrs> read_xattrs(int fd, std::string_view display);

// Sets every attribute in `xattrs` on `fd`.
Result<void> write_xattrs(int fd, const Xattrs& xattrs, std::string_view display);

}  // namespace pkgunify::sys
