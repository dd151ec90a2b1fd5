// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify split`: gives a unified guest path its own private copy again.
#pragma once

#include "guest/protection.hpp"
#include "sys/reporter.hpp"

#include <string>
#include <vector>

namespace pkgunify {

enum class SplitResult { split, not_shared, failed };

// How split_path resolves the directory of `path`.
enum class DirResolution {
  no_symlinks,  // a host path leading into a guest: no symlink is followed
  follow,       // inside a chroot (the rpm plugin's file hooks): symlinked
                // directories such as usrmerge's /bin cannot leave it
};

struct SplitOptions
{
  bool dry_run = false;              // change nothing, report what would be split
  VserverKernel* vserver = nullptr;  // null: the real kernel (tests pass a fake)
  DirResolution resolution = DirResolution::no_symlinks;
};

// `path` is an absolute host path. The file is copied (content, owner, mode,
// mtime, xattrs) to a temporary name in its directory, made durable, and
// exchanged with the path atomically (guest/exchange.hpp). A protected
// (immutable, iunlink) shared inode is lifted for the exchange, under an
// exclusive lock, and protected again for the other guests; the private copy
// is writable. This is also `pkgunify release`.
SplitResult split_path(const std::string& path, Reporter& reporter, const SplitOptions& options = {});

enum class ReleaseResult { not_needed, released, failed };

// Before a package manager replaces or removes `path`: when it is a unified
// file whose protection would make that fail (immutable, iunlink), turns it
// into a private, writable file (split_path). DirResolution::follow: the
// caller is chrooted into the root, so directory symlinks are followed (they
// cannot leave it). One statx when there is nothing to release.
ReleaseResult release_if_protected(const std::string& path, DirResolution resolution, Reporter& reporter) noexcept;

// release_if_protected for each of `paths`, for the files of whole packages
// (the dpkg hook, the agent): the private copies of up to 256 at a time are
// made durable by one syncfs, not an fsync each, before any replaces its
// shared file. The results are in the order of `paths`.
std::vector<ReleaseResult> release_all_if_protected(const std::vector<std::string>& paths, DirResolution resolution,
                                                    Reporter& reporter) noexcept;

// `path` (directory symlinks followed: the caller's own view, as inside a
// guest) is a regular file whose protection (immutable, append-only) would
// make a package manager's change fail. One statx.
bool is_protected_file(const std::string& path) noexcept;

}  // namespace pkgunify
