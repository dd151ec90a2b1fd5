// SPDX-License-Identifier: GPL-2.0-or-later
// How the readers reach a guest's package database. The guest's root user
// writes it; pkgunify reads it as root on the host. So:
// - its directory is opened beneath the root by the rules of every guest
//   file (sys::open_beneath): no symlink on the way is followed, no mount is
//   crossed, and every file of it is opened relative to that directory;
// - a file is opened only when it is a regular file (a FIFO or device node
//   in its place is never opened for reading);
// - every file has a size limit, checked with fstat before anything is read
//   or allocated, so that a sparse file of any apparent size fails at once.
// Private to core/pkgdb.
#pragma once

#include "sys/error.hpp"
#include "sys/fd.hpp"

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify::pkgdb_files {

inline constexpr std::uint64_t k_mib = std::uint64_t{1} << 20;

// The limits. Each is far above what real databases hold and far below what
// would cost the host real memory (a database is read whole, or, for rpm,
// copied, before it is parsed):
// - dpkg's status file, and its journal (updates/NNNN) all together: 64 MiB.
//   A status file holds about 1 KiB per installed package (a Debian system
//   of 970 packages: 0.9 MiB); 64 MiB fit some 70 000, every package of a
//   Debian release at once.
inline constexpr std::uint64_t k_max_status_size = 64 * k_mib;
// - a package's info file (.list, .md5sums, .conffiles): 32 MiB. The
//   largest real ones (packages of tens of thousands of files) hold ~5 MiB.
inline constexpr std::uint64_t k_max_info_file_size = 32 * k_mib;
// - the journal's files: dpkg names them 0000 to 9999.
inline constexpr std::size_t k_max_journal_files = 10000;
// - an rpm database is copied before librpm reads it (rpm_copy.hpp): each
//   file 1 GiB, all of them 2 GiB, 1000 files. A Fedora or RHEL system's
//   rpmdb.sqlite (or Berkeley DB Packages) holds 10 to 300 MiB.
inline constexpr std::uint64_t k_max_rpm_file_size = 1024 * k_mib;
inline constexpr std::uint64_t k_max_rpm_total_size = 2048 * k_mib;
inline constexpr std::size_t k_max_rpm_files = 1000;

// Opens the directory `relpath` (e.g. "var/lib/dpkg") beneath `root_fd` with
// sys::open_beneath. `display` names it (ROOT/relpath). A symlink on the way
// fails with ELOOP, a mount point on the way with EXDEV, each with a message
// that says so: "DISPLAY: it or a directory on the way is a symlink, never
// followed inside a guest".
sys::Result<sys::Fd> open_dir_beneath(int root_fd, std::string_view relpath, const std::string& display);

// Fails with EFBIG, "DISPLAY: larger than MAX bytes, the most it may hold",
// when the file of stat `st` is larger than `max_size` (its st_size: a
// sparse file fails here, before anything is read).
sys::Result<void> check_size(const struct stat& st, std::uint64_t max_size, std::string_view display);
// The same for the file `fd` refers to.
sys::Result<void> check_size(int fd, std::uint64_t max_size, std::string_view display);

// Opens `name` in the directory `dirfd` with sys::open_regular_at (only a
// regular file, never through a symlink) and checks its size.
sys::Result<sys::Fd> open_file(int dirfd, const std::string& name, std::uint64_t max_size, std::string_view display);

// Reads `name` in `dirfd` whole, opened by open_file.
sys::Result<std::string> read_file(int dirfd, const std::string& name, std::uint64_t max_size,
                                   std::string_view display);

// The names in the directory `dir_fd` (without "." and "..") for which
// `keep` is true, in directory order. Fails with E2BIG, "DISPLAY: more than
// MAX entries, the most it may hold", past `max_entries` of them.
sys::Result<std::vector<std::string>> list_dir(int dir_fd, std::size_t max_entries,
                                               const std::function<bool(std::string_view)>& keep,
                                               std::string_view display);

// Why `error` happened, without the file name it starts with: "No such file
// or directory", "not a regular file", "larger than ... bytes, ...".
std::string reason(const sys::Error& error, std::string_view display);

}  // namespace pkgunify::pkgdb_files
