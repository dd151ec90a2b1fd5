// SPDX-License-Identifier: GPL-2.0-or-later
#include "pkgdb/internal/rpm_copy.hpp"

#include "pkgdb/internal/db_files.hpp"
#include "pkgdb/packagedb.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

namespace pkgunify::rpm {

namespace {

constexpr int k_copy_attempts = 3;

// A directory of our own, removed with everything in it when it goes (or
// taken over: `path` emptied).
struct TempDir
{
  TempDir()
  {
    std::string made = copy_parent_dir() + "/rpmdb-" + std::to_string(::getpid()) + ".XXXXXX";
    if (!::mkdtemp(made.data())) {
      throw PackageDbError(made + ": cannot make a directory for a copy of an rpm database: " + std::strerror(errno));
    }
    path = std::move(made);
    fd = sys::Fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
      const int err = errno;
      const std::string failed = path;
      remove();
      throw PackageDbError(failed + ": cannot open: " + std::strerror(err));
    }
  }
  ~TempDir() { remove(); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  void
  remove()
  {
    if (!path.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
      path.clear();
    }
  }

  std::string path;
  sys::Fd fd;
};

bool
is_shm(std::string_view name)
{
  return name.ends_with("-shm");
}

// A regular file of the database as it was listed.
struct Listed
{
  std::string name;
  struct stat st;
};

PackageDbError
db_error(const std::string& display, const std::string& what)
{
  return PackageDbError(display + ": cannot read rpm database: " + what);
}

// The regular files of the database directory `dir_fd` but -shm files, by
// name, each and all of them within the limits.
std::vector<Listed>
list_files(int dir_fd, const std::string& display)
{
  auto names = pkgdb_files::list_dir(
    dir_fd, pkgdb_files::k_max_rpm_files, [](std::string_view name) { return !is_shm(name); }, display);
  if (!names) {
    throw db_error(display, pkgdb_files::reason(names.error(), display));
  }
  std::sort(names->begin(), names->end());
  std::vector<Listed> files;
  std::uint64_t total = 0;
  for (std::string& name : *names) {
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;  // gone, or no regular file (a symlink, a directory): not copied
    }
    const std::string file = display + "/" + name;
    if (auto fits = pkgdb_files::check_size(st, pkgdb_files::k_max_rpm_file_size, file); !fits) {
      throw db_error(file, pkgdb_files::reason(fits.error(), file));
    }
    total += static_cast<std::uint64_t>(st.st_size);
    if (total > pkgdb_files::k_max_rpm_total_size) {
      throw db_error(display, "its files hold more than " + std::to_string(pkgdb_files::k_max_rpm_total_size)
                                + " bytes, the most they may hold");
    }
    files.push_back({std::move(name), st});
  }
  return files;
}

bool
same_listing(const std::vector<Listed>& a, const std::vector<Listed>& b)
{
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const Listed& x, const Listed& y) {
    return x.name == y.name && sys::same_file_state(x.st, y.st);
  });
}

// Copies the file `file` of `dir_fd` into `to`. False when it is no longer
// the file listed.
bool
copy_file(int dir_fd, const Listed& file, const std::string& display, const TempDir& to)
{
  const std::string from_display = display + "/" + file.name;
  auto from = sys::open_regular_at(dir_fd, file.name, O_RDONLY, from_display);
  if (!from) {
    return false;  // replaced or removed since it was listed
  }
  auto st = sys::fstat_fd(from->get(), from_display);
  if (!st || !sys::same_file_state(*st, file.st)) {
    return false;
  }
  const std::string to_display = to.path + "/" + file.name;
  sys::Fd out(::openat(to.fd.get(), file.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!out) {
    throw PackageDbError(to_display + ": cannot copy rpm database: " + std::strerror(errno));
  }
  std::vector<char> buffer;
  const auto size = static_cast<std::uint64_t>(file.st.st_size);
  auto copied = sys::read_chunks(
    from->get(), buffer,
    [&](const char* data, std::size_t n) { return sys::write_all(out.get(), data, n, to_display); }, from_display,
    size + 1);  // one more: a file that grew shows
  if (!copied) {
    throw db_error(from_display, "cannot copy: " + copied.error().message);
  }
  return *copied == size;
}

// Copies every file of the database into `to`. False when one changed
// meanwhile.
bool
copy_files(int dir_fd, const std::string& display, const TempDir& to)
{
  const std::vector<Listed> before = list_files(dir_fd, display);
  for (const Listed& file : before) {
    if (!copy_file(dir_fd, file, display, to)) {
      return false;
    }
  }
  return same_listing(before, list_files(dir_fd, display));
}

}  // namespace

std::string
copy_parent_dir()
{
  struct stat st;
  if (::lstat("/run/pkgunify", &st) == 0 && S_ISDIR(st.st_mode) && ::access("/run/pkgunify", W_OK | X_OK) == 0) {
    return "/run/pkgunify";
  }
  const char* tmp = std::getenv("TMPDIR");
  return tmp && *tmp ? tmp : "/tmp";
}

bool
holds_database(int dir_fd)
{
  return std::any_of(std::begin(k_db_files), std::end(k_db_files), [dir_fd](const char* file) {
    struct stat st;
    return ::fstatat(dir_fd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
  });
}

DbCopy::DbCopy(int dir_fd, const std::string& display)
{
  for (int attempt = 0; attempt < k_copy_attempts; ++attempt) {
    TempDir copy;
    if (copy_files(dir_fd, display, copy)) {
      m_path = std::exchange(copy.path, {});
      m_fd = std::move(copy.fd);
      return;
    }
  }
  throw db_error(display, "it changed while it was copied, " + std::to_string(k_copy_attempts) + " times");
}

DbCopy::~DbCopy()
{
  std::error_code ec;
  std::filesystem::remove_all(m_path, ec);
}

bool
DbCopy::has_database() const
{
  return holds_database(m_fd.get());
}

}  // namespace pkgunify::rpm
