// SPDX-License-Identifier: GPL-2.0-or-later
// A package's files from dpkg's info directory: the file list, the md5sums
// attached to it, and the conffiles (the status file's Conffiles field and
// info/<pkg>.conffiles) marked. Read with plain POSIX I/O by the rules of
// db_files.hpp: never following a symlink a guest planted, never opening a
// FIFO, never reading more than the limit of an info file.
#include "pkgdb/internal/dpkg_info.hpp"

#include "pkgdb/internal/db_files.hpp"
#include "pkgdb/internal/file_stamp.hpp"
#include "pkgdb/internal/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pkgunify::dpkg {

namespace {

using pkgdb_text::file_stamp;
using pkgdb_text::for_each_line;
using pkgdb_text::is_md5;
using pkgdb_text::lower_hex;
using pkgdb_text::parse_conffiles_line;
using pkgdb_text::trim;

// The base names of a package's info files: dpkg names those of Multi-Arch:
// same packages "pkg:arch", the others "pkg". `expected` is the name dpkg
// uses, `other` the one to try when that is missing ("" when there is none).
struct InfoNames
{
  std::string expected;
  std::string other;
};

InfoNames
info_names(const StatusEntry& entry)
{
  const std::string qualified =
    entry.arch.empty() || entry.arch == "all" ? std::string() : entry.package + ":" + entry.arch;
  if (entry.multiarch_same) {
    return {qualified, entry.package};
  }
  return {entry.package, qualified};
}

// A file of the package, neither a conffile nor with a digest yet.
PackageFile
package_file(std::string path)
{
  PackageFile file;
  file.path = std::move(path);
  return file;
}

// The package of `entry`, without files yet.
PackageInfo
package_of(const StatusEntry& entry)
{
  PackageInfo pkg;
  pkg.name = entry.display_name();
  pkg.version = entry.version;
  pkg.arch = entry.arch;
  return pkg;
}

// `file` is the conffile `conffile`: config, with the status's digest.
void
mark_config(PackageFile& file, const Conffile& conffile)
{
  file.config = true;
  if (!conffile.md5.empty()) {
    file.digest_algo = DigestAlgo::md5;
    file.digest = conffile.md5;
  }
}

}  // namespace

// A package's file list as read, and the base name it was found under.
struct InfoDir::ListFile
{
  std::string base;
  std::string text;

  [[nodiscard]] std::string
  name() const
  {
    return base + ".list";
  }
};

// The package's paths without their leading '/' (as md5sums names them) ->
// their position in PackageInfo::files. Holds views of the list's text and
// of the conffiles, which must outlive it.
class InfoDir::FileIndex
{
public:
  std::unordered_map<std::string_view, std::size_t> positions;
};

InfoDir::InfoDir(int admin_fd, const std::string& admindir) : m_admindir(admindir)
{
  const std::string dir = m_admindir + "/info";
  auto fd = pkgdb_files::open_dir_beneath(admin_fd, "info", dir);
  if (fd) {
    m_fd = std::move(*fd);
  } else {
    m_error = fd.error().code;
    m_error_reason = pkgdb_files::reason(fd.error(), dir);
  }
}

std::string
InfoDir::display(const std::string& file) const
{
  return m_admindir + "/info/" + file;
}

PackageDbError
InfoDir::error(const std::string& file, const std::string& what) const
{
  return PackageDbError(display(file) + ": " + what);
}

// Reads info/FILE whole; ENOENT and friends come back as errors.
sys::Result<std::string>
InfoDir::read(const std::string& file) const
{
  if (!m_fd) {
    return sys::fail(display(file) + ": " + m_error_reason, m_error);
  }
  return pkgdb_files::read_file(m_fd.get(), file, pkgdb_files::k_max_info_file_size, display(file));
}

std::string
InfoDir::list_stamp(const StatusEntry& entry) const
{
  for (const std::string& list : {entry.display_name() + ".list", entry.package + ".list"}) {
    struct stat st;
    if (m_fd && ::fstatat(m_fd.get(), list.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      return " " + file_stamp(st);
    }
  }
  return {};
}

PackageInfo
InfoDir::read_package(const StatusEntry& entry) const
{
  PackageInfo pkg = package_of(entry);
  const ListFile list = read_list(entry, pkg.name);
  FileIndex index = index_list(list, pkg);
  read_md5sums(list.base + ".md5sums", index, pkg);

  // Conffiles: the status field, plus info/<pkg>.conffiles.
  std::vector<Conffile> conffiles = entry.conffiles;
  read_conffiles(list.base + ".conffiles", conffiles);
  for (const Conffile& conffile : conffiles) {
    const std::string_view key = std::string_view(conffile.path).substr(1);
    auto [it, added] = index.positions.try_emplace(key, pkg.files.size());
    if (added) {
      // Not (or no longer) in the list, e.g. an obsolete conffile still on
      // disk: listed all the same, it must never be unified.
      pkg.files.push_back(package_file(conffile.path));
    }
    mark_config(pkg.files[it->second], conffile);
  }
  return pkg;
}

PackageInfo
InfoDir::read_conffiles_of(const StatusEntry& entry) const
{
  PackageInfo pkg = package_of(entry);
  std::vector<Conffile> conffiles = entry.conffiles;
  const InfoNames names = info_names(entry);
  for (const std::string* base : {&names.expected, &names.other}) {
    if (!base->empty()) {
      read_conffiles(*base + ".conffiles", conffiles);
    }
  }
  for (const Conffile& conffile : conffiles) {
    mark_config(pkg.files.emplace_back(package_file(conffile.path)), conffile);
  }
  return pkg;
}

// The package's file list, under the name dpkg gives it or else the other.
InfoDir::ListFile
InfoDir::read_list(const StatusEntry& entry, const std::string& name) const
{
  const InfoNames names = info_names(entry);
  ListFile list{names.expected, {}};
  sys::Result<std::string> text = read(list.name());
  if (!text && text.error().code == ENOENT && !names.other.empty()) {
    sys::Result<std::string> alt = read(names.other + ".list");
    if (alt) {
      list.base = names.other;
      text = std::move(alt);
    }
  }
  if (!text) {
    throw error(list.name(), "cannot read file list of installed package " + name + ": "
                               + pkgdb_files::reason(text.error(), display(list.name())));
  }
  list.text = std::move(*text);
  return list;
}

// Adds a file to `pkg` for each path of the list (the first time it stands
// there; "/." and blank lines are none) and indexes them.
InfoDir::FileIndex
InfoDir::index_list(const ListFile& list, PackageInfo& pkg) const
{
  FileIndex index;
  const std::size_t lines = static_cast<std::size_t>(std::count(list.text.begin(), list.text.end(), '\n')) + 1;
  index.positions.reserve(lines);
  pkg.files.reserve(lines);
  for_each_line(list.text, 1, [&](std::string_view path, std::size_t lineno) {
    if (path.empty() || path == "/.") {
      return;
    }
    if (path.front() != '/') {
      throw error(list.name(), std::to_string(lineno) + ": not an absolute path");
    }
    if (path.size() > 1 && path.back() == '/') {
      path.remove_suffix(1);
    }
    if (index.positions.emplace(path.substr(1), pkg.files.size()).second) {
      pkg.files.push_back(package_file(std::string(path)));
    }
  });
  return index;
}

// "<32 hex>  relative/path" lines. A missing or unreadable file means no
// digests; one past the limit, or a malformed line, is a corrupt database.
void
InfoDir::read_md5sums(const std::string& file, const FileIndex& index, PackageInfo& pkg) const
{
  sys::Result<std::string> text = read(file);
  if (!text) {
    if (text.error().code == EFBIG) {
      throw error(file, "cannot read md5sums: " + pkgdb_files::reason(text.error(), display(file)));
    }
    return;
  }
  for_each_line(*text, 1, [&](std::string_view line, std::size_t lineno) {
    if (trim(line).empty()) {
      return;
    }
    if (line.size() < 34 || !is_md5(line.substr(0, 32)) || (line[32] != ' ' && line[32] != '\t')) {
      throw error(file, std::to_string(lineno) + ": malformed md5sums line");
    }
    std::string_view path = line.substr(33);
    // "md5  path" (text mode) or "md5 *path" (binary mode).
    if (!path.empty() && (path.front() == ' ' || path.front() == '*')) {
      path.remove_prefix(1);
    }
    while (!path.empty() && path.front() == '/') {
      path.remove_prefix(1);
    }
    if (path.empty()) {
      throw error(file, std::to_string(lineno) + ": malformed md5sums line");
    }
    auto it = index.positions.find(path);
    if (it == index.positions.end()) {
      return;  // not in the list (diverted or stale): nothing to attach it to
    }
    PackageFile& f = pkg.files[it->second];
    f.digest_algo = DigestAlgo::md5;
    f.digest = lower_hex(line.substr(0, 32));
  });
}

// One path per line, possibly preceded by a flag ("remove-on-upgrade
// /etc/x"). Missing is fine; unreadable otherwise is an error, since
// conffiles must never be unified.
void
InfoDir::read_conffiles(const std::string& file, std::vector<Conffile>& conffiles) const
{
  sys::Result<std::string> text = read(file);
  if (!text) {
    if (text.error().code == ENOENT) {
      return;
    }
    throw error(file, "cannot read conffiles: " + pkgdb_files::reason(text.error(), display(file)));
  }
  for_each_line(*text, 1, [&](std::string_view line, std::size_t lineno) {
    std::string_view path;
    if (!parse_conffiles_line(line, path)) {
      throw error(file, std::to_string(lineno) + ": malformed conffiles line");
    }
    if (path.empty()) {
      return;
    }
    const bool known =
      std::any_of(conffiles.begin(), conffiles.end(), [&](const Conffile& c) { return c.path == path; });
    if (!known) {
      conffiles.push_back(Conffile{std::string(path), {}});
    }
  });
}

}  // namespace pkgunify::dpkg
