// `pkgunify split`: gives a unified guest path its own private copy again.
#pragma once

#include "guest/protection.hpp"
#include "sys/reporter.hpp"

#include <string>

namespace pkgunify {

enum class SplitResult { split, not_shared, failed };

// `path` is an absolute host path; no symlink on it is followed. The file is
// copied (content, owner, mode, mtime, xattrs) to a temporary name in its
// directory, made durable, and exchanged with the path atomically. A
// protected (immutable, iunlink) shared inode is lifted for the exchange,
// under an exclusive lock, and protected again for the other guests; the
// private copy is writable. This is also `pkgunify release`. `vserver`: null
// for the real kernel.
SplitResult split_path(const std::string& path, bool dry_run, Reporter& reporter, VserverKernel* vserver = nullptr);

// How split_path resolves the directory of `path`.
enum class DirResolution {
  no_symlinks,  // a host path leading into a guest: no symlink is followed
  follow,       // inside a chroot (the rpm plugin's file hooks): symlinked
                // directories such as usrmerge's /bin cannot leave it
};

SplitResult split_path(const std::string& path, bool dry_run, Reporter& reporter, VserverKernel* vserver,
                       DirResolution resolution);

enum class ReleaseResult { not_needed, released, failed };

// Before a package manager replaces or removes `path`: when it is a unified
// file whose protection would make that fail (immutable, iunlink), turns it
// into a private, writable file (split_path). DirResolution::follow: the
// caller is chrooted into the root, so directory symlinks are followed (they
// cannot leave it). One statx when there is nothing to release.
ReleaseResult release_if_protected(const std::string& path, DirResolution resolution, Reporter& reporter) noexcept;

}  // namespace pkgunify
