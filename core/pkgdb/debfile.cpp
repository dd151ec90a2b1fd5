// SPDX-License-Identifier: GPL-2.0-or-later
// A .deb is an ar archive: "debian-binary" ("2.0\n"), then
// control.tar[.comp] and data.tar[.comp]. The inner tarballs are read
// straight from the ar member through a libarchive read callback, so a large
// data.tar is never held in memory.
#include "pkgdb/debfile.hpp"

#include "pkgdb/internal/text.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace pkgunify {

namespace {

using pkgdb_text::for_each_line;
using pkgdb_text::iequals;
using pkgdb_text::parse_conffiles_line;
using pkgdb_text::trim;

// The largest members read whole: debian-binary ("2.0\n" in every real
// one), and the control and conffiles files of control.tar.
constexpr std::size_t k_max_debian_binary = 4096;
constexpr std::size_t k_max_control_file = 16 * 1024 * 1024;

// libarchive reads the .deb in blocks of this size, and an inner tarball
// reader is fed its member in chunks of it.
constexpr std::size_t k_block_size = 64 * 1024;

// The chunks a member read whole is read in.
constexpr std::size_t k_member_chunk_size = 16 * 1024;

struct ArchiveFree
{
  void
  operator()(struct archive* a) const
  {
    archive_read_free(a);
  }
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveFree>;

ArchivePtr
new_reader()
{
  ArchivePtr a(archive_read_new());
  if (!a) {
    throw std::bad_alloc();
  }
  return a;
}

// Feeds the current member of an outer archive to an inner one.
struct MemberSource
{
  struct archive* outer = nullptr;
  std::array<char, k_block_size> buffer{};
};

la_ssize_t
member_read(struct archive* inner, void* client, const void** out)
{
  auto* source = static_cast<MemberSource*>(client);
  const la_ssize_t n = archive_read_data(source->outer, source->buffer.data(), source->buffer.size());
  if (n < 0) {
    const char* msg = archive_error_string(source->outer);
    archive_set_error(inner, archive_errno(source->outer), "%s", msg != nullptr ? msg : "read error");
    return -1;
  }
  *out = source->buffer.data();
  return n;
}

class DebReader
{
public:
  explicit DebReader(std::string path) : m_path(std::move(path)) {}

  ArchiveInfo
  read()
  {
    ArchivePtr outer = open_deb();
    read_members(outer.get());
    if (m_info.name.empty()) {
      fail("control file without Package field");
    }
    for (ArchiveEntry& e : m_info.entries) {
      e.config = m_conffiles.contains(e.path);
    }
    return std::move(m_info);
  }

private:
  [[noreturn]] void
  fail(const std::string& what) const
  {
    throw PackageDbError(m_path + ": malformed .deb: " + what);
  }

  [[noreturn]] void
  fail_archive(struct archive* a) const
  {
    const char* msg = archive_error_string(a);
    throw PackageDbError(m_path + ": cannot read .deb: " + (msg != nullptr ? msg : "unknown libarchive error"));
  }

  // The .deb as an ar archive.
  ArchivePtr
  open_deb() const
  {
    ArchivePtr outer = new_reader();
    archive_read_support_format_ar(outer.get());
    if (archive_read_open_filename(outer.get(), m_path.c_str(), k_block_size) != ARCHIVE_OK) {
      const int code = archive_errno(outer.get());
      if (code > 0) {
        throw PackageDbError(m_path + ": cannot read .deb: " + std::strerror(code));
      }
      fail_archive(outer.get());
    }
    return outer;
  }

  // The members of the ar archive, in order: debian-binary first, then
  // control.tar and data.tar, once each.
  void
  read_members(struct archive* outer)
  {
    bool seen_version = false;
    bool seen_control = false;
    bool seen_data = false;
    while (struct archive_entry* entry = next_entry(outer)) {
      const std::string_view name = entry_name(entry);
      if (!seen_version) {
        if (name != "debian-binary") {
          fail("not a Debian package: first member is '" + std::string(name) + "', not debian-binary");
        }
        check_version(read_member(outer, "debian-binary", k_max_debian_binary));
        seen_version = true;
      } else if (name.starts_with("control.tar")) {
        if (seen_control) {
          fail("more than one control member");
        }
        check_compression(name, "control.tar", {"", ".gz", ".xz", ".zst"});
        read_control(outer);
        seen_control = true;
      } else if (name.starts_with("data.tar")) {
        if (seen_data) {
          fail("more than one data member");
        }
        check_compression(name, "data.tar", {"", ".gz", ".xz", ".zst", ".bz2", ".lzma"});
        read_data(outer);
        seen_data = true;
      } else if (!name.starts_with("_")) {
        // dpkg ignores members named "_*" and rejects others.
        fail("unexpected member '" + std::string(name) + "'");
      }
    }
    if (!seen_version) {
      fail("not a Debian package: no debian-binary member");
    }
    if (!seen_control) {
      fail("no control.tar member");
    }
    if (!seen_data) {
      fail("no data.tar member");
    }
  }

  // The next entry of `a`; nullptr at its end. A read error throws.
  struct archive_entry*
  next_entry(struct archive* a) const
  {
    struct archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF) {
      return nullptr;
    }
    if (r < ARCHIVE_WARN) {
      fail_archive(a);
    }
    return entry;
  }

  // An entry's path as stored, else as UTF-8; "" when it has none.
  static std::string_view
  entry_name(struct archive_entry* entry)
  {
    const char* raw = archive_entry_pathname(entry);
    if (raw == nullptr) {
      raw = archive_entry_pathname_utf8(entry);
    }
    return raw != nullptr ? raw : "";
  }

  void
  check_compression(std::string_view name, std::string_view stem,
                    std::initializer_list<std::string_view> suffixes) const
  {
    const std::string_view suffix = name.substr(stem.size());
    if (std::find(suffixes.begin(), suffixes.end(), suffix) == suffixes.end()) {
      fail("unsupported member '" + std::string(name) + "'");
    }
  }

  // The data of the current entry of `a`, at most `limit` bytes.
  std::string
  read_member(struct archive* a, std::string_view what, std::size_t limit) const
  {
    std::string data;
    std::array<char, k_member_chunk_size> buffer{};
    for (;;) {
      const la_ssize_t n = archive_read_data(a, buffer.data(), buffer.size());
      if (n < 0) {
        fail_archive(a);
      }
      if (n == 0) {
        return data;
      }
      if (data.size() + static_cast<std::size_t>(n) > limit) {
        fail(std::string(what) + " is too large");
      }
      data.append(buffer.data(), static_cast<std::size_t>(n));
    }
  }

  void
  check_version(std::string_view text) const
  {
    // "2.0\n"; dpkg accepts any 2.x.
    if (!text.starts_with("2.")) {
      fail("unsupported format version '" + std::string(trim(text)) + "'");
    }
  }

  // Opens the current member of `outer` as a (compressed) tarball. Only the
  // compressions dpkg knows, all built into libarchive (no helper programs).
  ArchivePtr
  open_member(struct archive* outer, MemberSource& source) const
  {
    source.outer = outer;
    ArchivePtr inner = new_reader();
    archive_read_support_filter_gzip(inner.get());
    archive_read_support_filter_xz(inner.get());
    archive_read_support_filter_lzma(inner.get());
    archive_read_support_filter_zstd(inner.get());
    archive_read_support_filter_bzip2(inner.get());
    archive_read_support_format_tar(inner.get());
    if (archive_read_open(inner.get(), &source, nullptr, member_read, nullptr) != ARCHIVE_OK) {
      fail_archive(inner.get());
    }
    return inner;
  }

  // "./usr/bin/x" -> "/usr/bin/x"; "./" -> "" (skipped). Rejects "..",
  // "." and empty components inside the path.
  std::string
  normalise(std::string_view p) const
  {
    for (;;) {
      if (p.starts_with("./")) {
        p.remove_prefix(2);
      } else if (p.starts_with("/")) {
        p.remove_prefix(1);
      } else {
        break;
      }
    }
    if (p == ".") {
      p = {};
    }
    while (!p.empty() && p.back() == '/') {
      p.remove_suffix(1);
    }
    if (p.empty()) {
      return {};
    }
    std::size_t pos = 0;
    for (;;) {
      const std::size_t end = std::min(p.find('/', pos), p.size());
      const std::string_view component = p.substr(pos, end - pos);
      if (component.empty() || component == "." || component == "..") {
        fail("bad path '" + std::string(p) + "' in data.tar");
      }
      if (end == p.size()) {
        break;
      }
      pos = end + 1;
    }
    return "/" + std::string(p);
  }

  void
  read_control(struct archive* outer)
  {
    MemberSource source;
    ArchivePtr inner = open_member(outer, source);
    bool seen_control_file = false;
    while (struct archive_entry* entry = next_entry(inner.get())) {
      std::string_view name = entry_name(entry);
      while (name.starts_with("./")) {
        name.remove_prefix(2);
      }
      if (name == "control") {
        parse_control(read_member(inner.get(), "control file", k_max_control_file));
        seen_control_file = true;
      } else if (name == "conffiles") {
        parse_conffiles(read_member(inner.get(), "conffiles", k_max_control_file));
      }
    }
    if (!seen_control_file) {
      fail("control.tar has no control file");
    }
  }

  void
  parse_control(std::string_view text)
  {
    for_each_line(text, 1, [this](std::string_view line, std::size_t lineno) {
      if (line.empty() || line.front() == ' ' || line.front() == '\t') {
        return;  // continuation lines carry nothing we need
      }
      const auto colon = line.find(':');
      if (colon == std::string_view::npos) {
        fail("control file, line " + std::to_string(lineno) + ": malformed line '" + std::string(line)
             + "', expected \"Field: value\"");
      }
      const std::string_view field = trim(line.substr(0, colon));
      const std::string value(trim(line.substr(colon + 1)));
      if (iequals(field, "Package")) {
        m_info.name = value;
      } else if (iequals(field, "Version")) {
        m_info.version = value;
      } else if (iequals(field, "Architecture")) {
        m_info.arch = value;
      }
    });
  }

  // One absolute path per line, optionally preceded by the flag
  // remove-on-upgrade ("remove-on-upgrade /etc/x").
  void
  parse_conffiles(std::string_view text)
  {
    for_each_line(text, 1, [this](std::string_view line, std::size_t lineno) {
      std::string_view path;
      if (!parse_conffiles_line(line, path)) {
        fail("conffiles, line " + std::to_string(lineno) + ": malformed line '" + std::string(line) + "'");
      }
      if (!path.empty()) {
        m_conffiles.emplace(path);
      }
    });
  }

  void
  read_data(struct archive* outer)
  {
    MemberSource source;
    ArchivePtr inner = open_member(outer, source);
    std::unordered_map<std::string, std::uint64_t> regular_sizes;
    while (struct archive_entry* entry = next_entry(inner.get())) {
      const std::string_view raw = entry_name(entry);
      if (raw.empty()) {
        fail("data.tar entry without a readable name");
      }
      std::string path = normalise(raw);
      if (path.empty()) {
        continue;  // "./"
      }
      ArchiveEntry out;
      out.mode = archive_entry_mode(entry);
      const char* target = archive_entry_hardlink(entry);
      if (target != nullptr) {
        // A hard link to an earlier regular file: same content, same size.
        out.regular = true;
        if ((out.mode & AE_IFMT) == 0) {
          out.mode |= AE_IFREG;
        }
        auto it = regular_sizes.find(normalise(target));
        if (it == regular_sizes.end()) {
          fail("hard link '" + path + "' to unknown file '" + target + "'");
        }
        out.size = it->second;
      } else if (archive_entry_filetype(entry) == AE_IFREG) {
        out.regular = true;
        const la_int64_t size = archive_entry_size(entry);
        out.size = size > 0 ? static_cast<std::uint64_t>(size) : 0;
        regular_sizes[path] = out.size;
      }
      out.path = std::move(path);
      m_info.entries.push_back(std::move(out));
    }
  }

  std::string m_path;
  ArchiveInfo m_info;
  std::unordered_set<std::string> m_conffiles;
};

}  // namespace

ArchiveInfo
read_deb(const std::string& path)
{
  return DebReader(path).read();
}

}  // namespace pkgunify
