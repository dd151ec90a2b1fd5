// SPDX-License-Identifier: GPL-2.0-or-later
// dpkg's database: the status file read with libapt-pkg (dpkg_status.cpp),
// the journal dpkg keeps while it runs applied on top of it, and the info
// files of each installed package (dpkg_info.cpp).
//
// Layout of ADMINDIR:
//   status                 deb822 stanzas, one per package
//   updates/NNNN           the journal: stanzas dpkg has changed since it
//                          last wrote status
//   info/<pkg>.list        every path the package installed, "/." first
//   info/<pkg>.md5sums     "<md5>  relative/path"
//   info/<pkg>.conffiles   the conffiles of the package's control archive
//
// ADMINDIR of a root is opened beneath it, and everything in it relative to
// that descriptor, by the rules of db_files.hpp: no symlink followed, no
// mount crossed, only regular files, each within its size limit.
#include "pkgdb/dpkgdb.hpp"

#include "pkgdb/internal/db_files.hpp"
#include "pkgdb/internal/dpkg_info.hpp"
#include "pkgdb/internal/dpkg_status.hpp"
#include "pkgdb/internal/file_stamp.hpp"

#include "sys/fd.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pkgunify {

namespace {

using dpkg::InfoDir;
using dpkg::StatusEntry;
using pkgdb_text::file_stamp;
using pkgdb_text::mtime_stamp;

// Opens a file of the status's format in `dirfd`: only a regular file,
// never through a symlink (a FIFO is never opened); parse_status checks its
// size.
sys::Result<sys::Fd>
open_status_file(int dirfd, const std::string& name, const std::string& display)
{
  return sys::open_regular_at(dirfd, name, O_RDONLY, display);
}

// The journal dpkg keeps during a run: updates/NNNN, applied in order on
// top of status (dpkg folds them into status when it exits). Hooks and
// triggers run while dpkg still runs, so they must read them too. Its files
// are opened relative to `dir`, opened once beneath ADMINDIR.
struct Journal
{
  sys::Fd dir;  // ADMINDIR/updates; none when there is none
  std::string display;
  std::vector<std::string> names;  // NNNN, in the order dpkg wrote them
};

bool
is_journal_name(std::string_view name)
{
  return !name.empty() && name.find_first_not_of("0123456789") == std::string_view::npos;
}

Journal
open_journal(int admin_fd, const std::string& admindir)
{
  Journal journal;
  journal.display = admindir + "/updates";
  auto dir = pkgdb_files::open_dir_beneath(admin_fd, "updates", journal.display);
  if (!dir && dir.error().code == ENOENT) {
    return journal;
  }
  auto names = dir
                 ? pkgdb_files::list_dir(dir->get(), pkgdb_files::k_max_journal_files, is_journal_name, journal.display)
                 : std::unexpected(dir.error());
  if (!names) {
    throw PackageDbError(journal.display
                         + ": cannot read dpkg journal: " + pkgdb_files::reason(names.error(), journal.display));
  }
  journal.dir = std::move(*dir);
  journal.names = std::move(*names);
  std::sort(journal.names.begin(), journal.names.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return journal;
}

PackageDbError
journal_too_large(const Journal& journal)
{
  return PackageDbError(journal.display + ": cannot read dpkg journal: its files hold more than "
                        + std::to_string(pkgdb_files::k_max_status_size) + " bytes, the most they may hold");
}

// The journal's files may hold what the status file may, each and all
// together (a journal holds a few stanzas). Checked before any is read.
void
check_journal_size(const Journal& journal)
{
  std::uint64_t total = 0;
  for (const auto& name : journal.names) {
    struct stat st;
    if (::fstatat(journal.dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;
    }
    const std::string display = journal.display + "/" + name;
    if (auto fits = pkgdb_files::check_size(st, pkgdb_files::k_max_status_size, display); !fits) {
      throw dpkg::status_error(display, pkgdb_files::reason(fits.error(), display));
    }
    total += static_cast<std::uint64_t>(st.st_size);
  }
  if (total > pkgdb_files::k_max_status_size) {
    throw journal_too_large(journal);
  }
}

// The journal file `name` open, or none when dpkg folded it into status
// meanwhile. Counts its size into `total` again, for a journal that grew
// since check_journal_size.
sys::Fd
open_journal_file(const Journal& journal, const std::string& name, std::uint64_t& total)
{
  const std::string display = journal.display + "/" + name;
  auto fd = open_status_file(journal.dir.get(), name, display);
  if (!fd && fd.error().code == ENOENT) {
    return {};
  }
  auto st = fd ? sys::fstat_fd(fd->get(), display) : std::unexpected(fd.error());
  if (!st) {
    throw dpkg::status_error(display, pkgdb_files::reason(st.error(), display));
  }
  total += static_cast<std::uint64_t>(st->st_size);
  if (total > pkgdb_files::k_max_status_size) {
    throw journal_too_large(journal);
  }
  return std::move(*fd);
}

// Applies the journal to the packages of the status file: a package a
// journal file names replaces the one before, or is added.
void
apply_journal(const Journal& journal, std::vector<StatusEntry>& all)
{
  std::map<std::string, std::size_t> index;
  auto key = [](const StatusEntry& e) { return e.multiarch_same ? e.package + ":" + e.arch : e.package; };
  for (std::size_t i = 0; i < all.size(); ++i) {
    index[key(all[i])] = i;
  }
  check_journal_size(journal);
  std::uint64_t total = 0;
  for (const auto& name : journal.names) {
    sys::Fd fd = open_journal_file(journal, name, total);
    if (!fd) {
      continue;
    }
    for (auto& e : dpkg::parse_status(std::move(fd), journal.display + "/" + name)) {
      const auto [it, inserted] = index.try_emplace(key(e), all.size());
      if (inserted) {
        all.push_back(std::move(e));
      } else {
        all[it->second] = std::move(e);
      }
    }
  }
}

// "pkg" matches every installed instance (all architectures of a
// Multi-Arch: same library), "pkg:arch" the one of that architecture.
bool
matches(const StatusEntry& entry, std::string_view name)
{
  if (name == entry.package) {
    return true;
  }
  const auto colon = name.find(':');
  return colon != std::string_view::npos && name.substr(0, colon) == entry.package
         && name.substr(colon + 1) == entry.arch;
}

class DpkgDb final : public PackageDb
{
public:
  // `dir` is ADMINDIR open, `admindir` its host path.
  DpkgDb(sys::Fd dir, std::string admindir)
    : m_admindir(std::move(admindir))
    , m_status(m_admindir + "/status")
    , m_dir(std::move(dir))
  {
    // Fail early on a missing or corrupt status file.
    static_cast<void>(read_status());
  }

  [[nodiscard]] std::string_view
  kind() const override
  {
    return "dpkg";
  }

  [[nodiscard]] const std::string&
  location() const override
  {
    return m_admindir;
  }

  std::vector<PackageInfo>
  packages() override
  {
    return each_installed(&InfoDir::read_package);
  }

  std::vector<PackageInfo>
  config_files() override
  {
    return each_installed(&InfoDir::read_conffiles_of);
  }

  std::vector<PackageInfo>
  packages(const std::vector<std::string>& names, std::vector<std::string>& missing) override
  {
    const std::vector<StatusEntry> entries = read_status();
    const InfoDir info(m_dir.get(), m_admindir);
    std::vector<PackageInfo> out;
    for (const std::string& name : names) {
      bool found = false;
      for (const StatusEntry& entry : entries) {
        if (matches(entry, name)) {
          out.push_back(info.read_package(entry));
          found = true;
        }
      }
      if (!found) {
        missing.push_back(name);
      }
    }
    return out;
  }

  std::vector<PackageStamp>
  stamps() override
  {
    const std::vector<StatusEntry> entries = read_status();
    const InfoDir info(m_dir.get(), m_admindir);
    std::vector<PackageStamp> out;
    out.reserve(entries.size());
    for (const StatusEntry& entry : entries) {
      // The file list is rewritten whenever dpkg unpacks the package.
      out.push_back({entry.display_name(), entry.version + " " + entry.arch + info.list_stamp(entry)});
    }
    return out;
  }

  std::string
  change_marker() override
  {
    struct stat st;
    if (::fstatat(m_dir.get(), "status", &st, AT_SYMLINK_NOFOLLOW) != 0) {
      throw dpkg::status_error(m_status, std::strerror(errno));
    }
    std::string marker = "dpkg " + file_stamp(st);
    const Journal journal = open_journal(m_dir.get(), m_admindir);
    for (const auto& name : journal.names) {
      struct stat jst;
      if (::fstatat(journal.dir.get(), name.c_str(), &jst, AT_SYMLINK_NOFOLLOW) == 0) {
        marker += " " + name + "=" + std::to_string(jst.st_size) + ":" + mtime_stamp(jst);
      }
    }
    return marker;
  }

private:
  // `read` of each package whose files are on disk.
  std::vector<PackageInfo>
  each_installed(PackageInfo (InfoDir::*read)(const StatusEntry&) const) const
  {
    const std::vector<StatusEntry> entries = read_status();
    const InfoDir info(m_dir.get(), m_admindir);
    std::vector<PackageInfo> out;
    out.reserve(entries.size());
    for (const StatusEntry& entry : entries) {
      out.push_back((info.*read)(entry));
    }
    return out;
  }

  // The packages whose files are on disk, as status and the journal say,
  // in file order.
  [[nodiscard]] std::vector<StatusEntry>
  read_status() const
  {
    auto fd = open_status_file(m_dir.get(), "status", m_status);
    if (!fd) {
      throw dpkg::status_error(m_status, pkgdb_files::reason(fd.error(), m_status));
    }
    std::vector<StatusEntry> all = dpkg::parse_status(std::move(*fd), m_status);
    const Journal journal = open_journal(m_dir.get(), m_admindir);
    if (!journal.names.empty()) {
      apply_journal(journal, all);
    }
    std::erase_if(all, [](const StatusEntry& e) { return !e.on_disk; });
    return all;
  }

  std::string m_admindir;
  std::string m_status;
  sys::Fd m_dir;
};

// ADMINDIR inside a root.
constexpr std::string_view k_admindir = "var/lib/dpkg";

std::string
admindir_of(const std::string& root)
{
  return root + (root.ends_with('/') ? "" : "/") + std::string(k_admindir);
}

}  // namespace

std::unique_ptr<PackageDb>
make_dpkg_db(const std::string& admindir)
{
  std::string dir = admindir;
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  sys::Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    throw dpkg::status_error(dir + "/status", std::strerror(errno));
  }
  return std::make_unique<DpkgDb>(std::move(fd), dir);
}

std::unique_ptr<PackageDb>
make_root_dpkg_db(const std::string& root)
{
  const std::string admindir = admindir_of(root);
  auto root_fd = sys::open_host_dir(root);
  auto dir =
    root_fd ? pkgdb_files::open_dir_beneath(root_fd->get(), k_admindir, admindir) : std::unexpected(root_fd.error());
  if (!dir) {
    const int code = dir.error().code;
    if (code == ELOOP || code == EXDEV) {
      throw PackageDbError(dir.error().message);
    }
    throw dpkg::status_error(admindir + "/status", pkgdb_files::reason(dir.error(), admindir));
  }
  return std::make_unique<DpkgDb>(std::move(*dir), admindir);
}

bool
has_dpkg_db(const std::string& root)
{
  auto root_fd = sys::open_host_dir(root);
  return root_fd
         && sys::open_beneath(root_fd->get(), std::string(k_admindir) + "/status", O_PATH, admindir_of(root))
              .has_value();
}

}  // namespace pkgunify
