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
#include "pkgdb/dpkgdb.hpp"

#include "pkgdb/internal/dpkg_info.hpp"
#include "pkgdb/internal/dpkg_status.hpp"
#include "pkgdb/internal/file_stamp.hpp"

#include "sys/fd.hpp"

#include <dirent.h>
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

// Opens a file of the status's format beneath `dirfd`: never through a
// symlink, never blocking on a FIFO.
sys::Fd
open_status_file(int dirfd, const std::string& name)
{
  return sys::Fd(::openat(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
}

// The journal dpkg keeps during a run: updates/NNNN, applied in order on
// top of status (dpkg folds them into status when it exits). Hooks and
// triggers run while dpkg still runs, so they must read them too.
std::vector<std::string>
journal_files(int admin_fd)
{
  std::vector<std::string> names;
  const int fd = ::openat(admin_fd, "updates", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return names;
  }
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return names;
  }
  while (const dirent* de = ::readdir(dir)) {
    const std::string_view n = de->d_name;
    if (!n.empty() && n.find_first_not_of("0123456789") == std::string_view::npos) {
      names.emplace_back(n);
    }
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return names;
}

// Applies the journal files `journal` to the packages of the status file:
// a package a journal file names replaces the one before, or is added.
void
apply_journal(int admin_fd, const std::string& admindir, const std::vector<std::string>& journal,
              std::vector<StatusEntry>& all)
{
  std::map<std::string, std::size_t> index;
  auto key = [](const StatusEntry& e) { return e.multiarch_same ? e.package + ":" + e.arch : e.package; };
  for (std::size_t i = 0; i < all.size(); ++i) {
    index[key(all[i])] = i;
  }
  for (const auto& name : journal) {
    sys::Fd fd = open_status_file(admin_fd, "updates/" + name);
    if (!fd) {
      continue;  // folded into status meanwhile
    }
    for (auto& e : dpkg::parse_status(std::move(fd), admindir + "/updates/" + name)) {
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
  explicit DpkgDb(std::string admindir) : m_admindir(std::move(admindir))
  {
    while (m_admindir.size() > 1 && m_admindir.back() == '/') {
      m_admindir.pop_back();
    }
    m_status = m_admindir + "/status";
    m_dir = sys::Fd(::open(m_admindir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!m_dir) {
      throw dpkg::status_error(m_status, std::strerror(errno));
    }
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
    const std::vector<StatusEntry> entries = read_status();
    const InfoDir info(m_dir.get(), m_admindir);
    std::vector<PackageInfo> out;
    out.reserve(entries.size());
    for (const StatusEntry& entry : entries) {
      out.push_back(info.read_package(entry));
    }
    return out;
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
    for (const auto& name : journal_files(m_dir.get())) {
      struct stat jst;
      if (::fstatat(m_dir.get(), ("updates/" + name).c_str(), &jst, AT_SYMLINK_NOFOLLOW) == 0) {
        marker += " " + name + "=" + std::to_string(jst.st_size) + ":" + mtime_stamp(jst);
      }
    }
    return marker;
  }

private:
  // The packages whose files are on disk, as status and the journal say,
  // in file order.
  [[nodiscard]] std::vector<StatusEntry>
  read_status() const
  {
    sys::Fd fd = open_status_file(m_dir.get(), "status");
    if (!fd) {
      throw dpkg::status_error(m_status, std::strerror(errno));
    }
    std::vector<StatusEntry> all = dpkg::parse_status(std::move(fd), m_status);
    const std::vector<std::string> journal = journal_files(m_dir.get());
    if (!journal.empty()) {
      apply_journal(m_dir.get(), m_admindir, journal, all);
    }
    std::erase_if(all, [](const StatusEntry& e) { return !e.on_disk; });
    return all;
  }

  std::string m_admindir;
  std::string m_status;
  sys::Fd m_dir;
};

}  // namespace

std::unique_ptr<PackageDb>
make_dpkg_db(const std::string& admindir)
{
  return std::make_unique<DpkgDb>(admindir);
}

}  // namespace pkgunify
