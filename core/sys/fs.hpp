// SPDX-License-Identifier: GPL-2.0-or-later
// Filesystem helpers. Everything inside a guest root is resolved relative to
// a directory fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_XDEV), so no symlink a guest plants, and no directory it swaps
// for one, can lead outside the root.
#pragma once

#include "sys/error.hpp"
#include "sys/fd.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace pkgunify::sys {

// Opens `relpath` (relative, or "." for the directory itself) beneath
// `dirfd`. Never follows a symlink, never crosses a mount, never leaves
// `dirfd`. O_CLOEXEC and O_NOFOLLOW are always added. `display` names the
// path in error messages.
Result<Fd> open_beneath(int dirfd, std::string_view relpath, int flags, std::string_view display, mode_t mode = 0);

// This process's /proc/self/fd, opened once per process and only where it
// is procfs (inside a chroot into a guest, its /proc may be missing, or a
// tree of the guest's own symlinks); -1 where there is none. Its entries
// are the magic links of this process's descriptors. Owned by this module.
int proc_self_fd_dir();

// Opens `relpath` beneath `dirfd` as open_beneath does, but only when it is
// a regular file: it is first opened with O_PATH, so that a FIFO, socket or
// device node a guest put there is never opened (no blocking, no driver's
// side effects), checked, then reopened with `flags` through /proc/self/fd
// (proc_self_fd_dir: the same inode, checked again; no second lookup a
// guest could race). Fails with EISDIR
// for a directory, ELOOP for a symlink, and EINVAL ("DISPLAY: not a regular
// file") for anything else.
// `st`, when given, receives the file's stat.
Result<Fd> open_regular_beneath(int dirfd, std::string_view relpath, int flags, std::string_view display,
                                struct stat* st = nullptr);

// Opens `path` as the process whose root directory `rootfd` is sees it: as
// if `rootfd` were "/" (openat2 RESOLVE_IN_ROOT: ".." and absolute symlinks
// stay in it), its symlinks and mounts followed, no magic link; only a
// regular file (checked on an O_PATH descriptor first, as above). For
// files a guest names inside its own mount namespace, with `rootfd` an
// O_PATH descriptor of /proc/PID/root of a process in it.
Result<Fd> open_regular_in_root(int rootfd, std::string_view path, int flags, std::string_view display);

// The same for `name` in `dirfd` (a directory opened safely already: inside
// a root or the store), never following a symlink.
Result<Fd> open_regular_at(int dirfd, const std::string& name, int flags, std::string_view display);

// Opens an absolute host path without following any symlink on the way
// (mounts may be crossed). For paths an admin names that lead into guests.
Result<Fd> open_no_symlinks(const std::string& path, int flags);

// Opens a directory given by an admin on the host (symlinks allowed).
Result<Fd> open_host_dir(const std::string& path);

Result<struct stat> fstat_fd(int fd, std::string_view display);
// fstatat(AT_SYMLINK_NOFOLLOW).
Result<struct stat> stat_at(int dirfd, const std::string& name, std::string_view display);

// mkdirat that accepts an existing directory.
Result<void> ensure_dir_at(int dirfd, const std::string& name, mode_t mode, std::string_view display);

// Links the open file `fd` as `dirfd`/`name` (AT_EMPTY_PATH, falling back to
// /proc/self/fd). Works for O_TMPFILE files. Returns the raw errno on failure
// through Error::code so callers can tell EEXIST and EMLINK apart.
Result<void> link_fd_at(int fd, int dirfd, const std::string& name, std::string_view display);

// Writes all of `data`, retrying short writes and EINTR.
Result<void> write_all(int fd, const void* data, std::size_t size, std::string_view display);

// Reads up to `size` bytes, retrying EINTR and short reads; returns the number
// read (less than `size` only at end of file).
Result<std::size_t> read_full(int fd, void* data, std::size_t size, std::string_view display);

// Atomically replaces `dirfd`/`name` with `content`: temporary file, fsync,
// rename, fsync of the directory.
Result<void> write_file_atomic(int dirfd, const std::string& name, std::string_view content, mode_t mode,
                               std::string_view display);

// `n` random bytes as lowercase hex (getrandom).
std::string random_hex(std::size_t n);

// Joins a host path and a path inside it for messages: ("/g", "/usr/x") ->
// "/g/usr/x".
std::string join_display(std::string_view base, std::string_view rel);

// True when both stats describe the same unchanged file: inode, size, mtime
// and ctime.
bool same_file_state(const struct stat& a, const struct stat& b);

// lstat through statx: fills `st` and returns the attributes; -1 and errno
// on failure.
int stat_entry(int dirfd, const char* name, struct stat& st, std::uint64_t& attributes);

// "/usr" + "bin" -> "/usr/bin"; "/" + "usr" -> "/usr".
std::string child_path(std::string_view dir, std::string_view name);

}  // namespace pkgunify::sys
