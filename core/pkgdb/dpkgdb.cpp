// dpkg's database read with libapt-pkg (status) and plain POSIX I/O (the
// info/ files, which hold about 100k paths per root).
//
// Layout of ADMINDIR:
//   status                 deb822 stanzas; "Status: want flag state" and a
//                          "Conffiles:" field of " /path <md5>[ flag...]" lines
//   info/<pkg>.list        every path the package installed, "/." first
//   info/<pkg>.md5sums     "<md5>  relative/path"
//   info/<pkg>.conffiles   the conffiles of the package's control archive
// Multi-Arch: same packages name their info files "<pkg>:<arch>.*".
//
// libapt-pkg reports errors through a thread-local error stack: every use is
// bracketed by an AptErrorScope, which collects what libapt-pkg said and
// restores the caller's messages untouched.
#include "pkgdb/dpkgdb.hpp"

#include "pkgdb/internal/text.hpp"

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/read.hpp"

#include <apt-pkg/error.h>
#include <apt-pkg/fileutl.h>
#include <apt-pkg/tagfile.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pkgunify {

namespace {

using pkgdb_text::for_each_line;
using pkgdb_text::parse_conffiles_line;
using pkgdb_text::trim;

// The largest file of a dpkg database read whole (status, a .list): far
// above any real one (Debian's largest status files hold a few MiB).
constexpr std::size_t k_max_db_file_size = std::size_t{1} << 30;

// ---- util-style helpers: never throw, return Result -------------------------

// Reads the whole regular file `name` beneath `dirfd`. Never follows a
// symlink in the last component and never blocks on a FIFO a guest planted.
sys::Result<std::string>
read_regular_file_at(int dirfd, const std::string& name, std::string_view display)
{
  return sys::read_small_file_at(dirfd, name, k_max_db_file_size, display);
}

bool
is_hex(std::string_view s)
{
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); });
}

std::string
lower_hex(std::string_view s)
{
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

bool
is_md5(std::string_view s)
{
  return s.size() == 32 && is_hex(s);
}

// dpkg's package name rule: an alphanumeric first, then [a-z0-9+.-_]. Also
// keeps a hostile status file from naming "../" info files.
bool
valid_package_name(std::string_view s)
{
  if (s.empty() || std::isalnum(static_cast<unsigned char>(s.front())) == 0) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.' || c == '_';
  });
}

bool
valid_arch(std::string_view s)
{
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
  });
}

// A deb822 field name: printable ASCII without space and colon, not starting
// with '#' or '-'.
bool
valid_field_name(std::string_view s)
{
  if (s.empty() || s.front() == '#' || s.front() == '-') {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127 && c != ':'; });
}

// ---- libapt-pkg's error stack ----------------------------------------------

// Gives libapt-pkg an empty error list for the scope and restores the
// caller's list afterwards; what libapt-pkg said in between is collected by
// take_messages() or discarded.
class AptErrorScope
{
public:
  AptErrorScope() { _error->PushToStack(); }
  AptErrorScope(const AptErrorScope&) = delete;
  AptErrorScope& operator=(const AptErrorScope&) = delete;
  ~AptErrorScope() { _error->RevertToStack(); }

  [[nodiscard]] static bool
  pending()
  {
    return _error->PendingError();
  }

  // The messages of this scope, joined with "; ", and an empty list.
  static std::string
  take_messages()
  {
    std::string out;
    std::string text;
    while (!_error->empty(GlobalError::DEBUG)) {
      _error->PopMessage(text);
      if (!out.empty()) {
        out += "; ";
      }
      out += text;
    }
    return out;
  }
};

// ---- the status file ---------------------------------------------------------

struct Conffile
{
  std::string path;
  std::string md5;  // lowercase; empty for "newconffile" and friends
};

struct StatusEntry
{
  std::string package;
  std::string version;
  std::string arch;
  bool multiarch_same = false;
  std::vector<Conffile> conffiles;
  bool on_disk = false;  // the package's files are installed

  // As dpkg-query names it: "pkg", or "pkg:arch" for Multi-Arch: same.
  [[nodiscard]] std::string
  display_name() const
  {
    return multiarch_same && !arch.empty() ? package + ":" + arch : package;
  }
};

// The third word of Status: whether the package's files are on disk.
enum class InstallState { on_disk, absent, unknown };

InstallState
install_state(std::string_view state)
{
  static constexpr std::array<std::string_view, 6> on_disk = {
    "installed", "half-configured", "unpacked", "half-installed", "triggers-awaited", "triggers-pending",
  };
  if (std::find(on_disk.begin(), on_disk.end(), state) != on_disk.end()) {
    return InstallState::on_disk;
  }
  if (state == "config-files" || state == "not-installed") {
    return InstallState::absent;
  }
  return InstallState::unknown;
}

std::size_t
count_newlines(const char* begin, const char* end)
{
  return static_cast<std::size_t>(std::count(begin, end, '\n'));
}

class StatusParser
{
public:
  explicit StatusParser(std::string display) : m_display(std::move(display)) {}

  // Parses the status file open as `fd` (taken over). Returns the packages
  // whose files are on disk, in file order.
  std::vector<StatusEntry>
  parse(sys::Fd fd)
  {
    struct stat st = {};
    if (::fstat(fd.get(), &st) != 0) {
      throw_sys(errno);
    }
    if (!S_ISREG(st.st_mode)) {
      throw PackageDbError(m_display + ": cannot read dpkg status: not a regular file");
    }

    std::vector<StatusEntry> entries;
    AptErrorScope scope;
    FileFd file;
    if (!file.OpenDescriptor(fd.release(), FileFd::ReadOnly, FileFd::None, true)) {
      throw PackageDbError(m_display + ": cannot read dpkg status: " + AptErrorScope::take_messages());
    }
    // A buffer of the whole file saves pkgTagFile from refilling; it grows by
    // itself should the file have grown since.
    pkgTagFile tags(&file, static_cast<unsigned long long>(st.st_size) + 1);
    if (AptErrorScope::pending()) {
      throw PackageDbError(m_display + ": cannot read dpkg status: " + AptErrorScope::take_messages());
    }
    pkgTagSection section;
    std::size_t line = 1;  // the line at tags.Offset()
    for (;;) {
      const unsigned long before = tags.Offset();
      if (!tags.Step(section)) {
        if (AptErrorScope::pending()) {
          // libapt-pkg names the file, which it only knows as "" here.
          std::string why = AptErrorScope::take_messages();
          for (auto pos = why.find("  "); pos != std::string::npos; pos = why.find("  ")) {
            why.erase(pos, 1);
          }
          throw corrupt(line, "malformed stanza (libapt-pkg: " + why + ")");
        }
        break;
      }
      // The bytes Step consumed (the stanza and the blank lines after it)
      // start at the section, which is still in pkgTagFile's buffer.
      const char* begin = nullptr;
      const char* end = nullptr;
      section.GetSection(begin, end);
      const char* consumed_end = begin + (tags.Offset() - before);
      handle_stanza(section, begin, end, line, entries);
      line += count_newlines(begin, consumed_end);
    }
    if (AptErrorScope::pending()) {
      throw PackageDbError(m_display + ": cannot read dpkg status: " + AptErrorScope::take_messages());
    }
    return entries;
  }

  [[noreturn]] void
  throw_sys(int code) const
  {
    throw PackageDbError(m_display + ": cannot read dpkg status: " + std::strerror(code));
  }

private:
  [[nodiscard]] PackageDbError
  corrupt(std::size_t line, const std::string& what) const
  {
    return PackageDbError(m_display + ":" + std::to_string(line) + ": " + what);
  }

  // Checks every line of the stanza [begin, end) starting at line `first`:
  // "Field: value" or a continuation line. libapt-pkg accepts a line without
  // a colon by taking the next colon, even one of a later stanza. Returns
  // the line of the first field, 0 for a stanza of blank lines only.
  std::size_t
  check_lines(const char* begin, const char* end, std::size_t first) const
  {
    std::size_t start = 0;
    for_each_line(std::string_view(begin, static_cast<std::size_t>(end - begin)), first,
                  [&](std::string_view text, std::size_t lineno) {
                    if (text.empty()) {
                      if (start != 0) {
                        throw corrupt(lineno, "blank line inside a stanza");
                      }
                      return;
                    }
                    if (text.front() == ' ' || text.front() == '\t') {
                      if (start == 0) {
                        throw corrupt(lineno, "continuation line before the first field");
                      }
                      return;
                    }
                    const auto colon = text.find(':');
                    if (colon == std::string_view::npos || !valid_field_name(text.substr(0, colon))) {
                      throw corrupt(lineno, "malformed line, expected \"Field: value\"");
                    }
                    if (start == 0) {
                      start = lineno;
                    }
                  });
    return start;
  }

  void
  handle_stanza(const pkgTagSection& section, const char* begin, const char* end, std::size_t first_line,
                std::vector<StatusEntry>& entries) const
  {
    const std::size_t start = check_lines(begin, end, first_line);
    if (start == 0) {
      return;  // blank lines only
    }
    StatusEntry entry;
    entry.package = section.FindS("Package");
    if (entry.package.empty()) {
      throw corrupt(start, "stanza without Package field");
    }
    if (!valid_package_name(entry.package)) {
      throw corrupt(start, "invalid package name '" + entry.package + "'");
    }
    const std::string status = section.FindS("Status");
    if (status.empty()) {
      throw corrupt(start, "package '" + entry.package + "' has no Status field");
    }
    std::vector<std::string_view> words;
    for_each_word(status, words);
    if (words.size() != 3) {
      throw corrupt(start, "package '" + entry.package + "': malformed Status '" + status + "'");
    }
    const InstallState state = install_state(words[2]);
    if (state == InstallState::unknown) {
      throw corrupt(start, "package '" + entry.package + "': unknown state '" + std::string(words[2]) + "'");
    }
    entry.arch = section.FindS("Architecture");
    if (!entry.arch.empty() && !valid_arch(entry.arch)) {
      throw corrupt(start, "package '" + entry.package + "': invalid Architecture '" + entry.arch + "'");
    }
    entry.version = section.FindS("Version");
    entry.multiarch_same = section.FindS("Multi-Arch") == "same" && !entry.arch.empty() && entry.arch != "all";

    const char* value = nullptr;
    const char* value_end = nullptr;
    if (section.Find("Conffiles", value, value_end) && value != nullptr && value < value_end) {
      const std::size_t value_line = first_line + count_newlines(begin, value);
      for_each_line(std::string_view(value, static_cast<std::size_t>(value_end - value)), value_line,
                    [&](std::string_view text, std::size_t lineno) { parse_conffile(text, lineno, entry.conffiles); });
    }
    entry.on_disk = state == InstallState::on_disk;
    entries.push_back(std::move(entry));
  }

  static void
  for_each_word(std::string_view text, std::vector<std::string_view>& words)
  {
    std::size_t pos = 0;
    while (pos < text.size()) {
      const auto b = text.find_first_not_of(" \t", pos);
      if (b == std::string_view::npos) {
        break;
      }
      auto e = text.find_first_of(" \t", b);
      if (e == std::string_view::npos) {
        e = text.size();
      }
      words.push_back(text.substr(b, e - b));
      pos = e;
    }
  }

  // One Conffiles line: "/path <hash>[ obsolete][ remove-on-upgrade]". The
  // path may contain spaces, so it is parsed from the right, as dpkg does.
  void
  parse_conffile(std::string_view text, std::size_t lineno, std::vector<Conffile>& out) const
  {
    std::string_view rest = trim(text);
    if (rest.empty()) {
      throw corrupt(lineno, "empty Conffiles line");
    }
    auto last_word = [&rest]() {
      const auto sp = rest.find_last_of(" \t");
      std::string_view word = sp == std::string_view::npos ? rest : rest.substr(sp + 1);
      rest = sp == std::string_view::npos ? std::string_view{} : trim(rest.substr(0, sp));
      return word;
    };
    std::string_view hash = last_word();
    for (int i = 0; i < 2 && (hash == "obsolete" || hash == "remove-on-upgrade"); ++i) {
      hash = last_word();
    }
    if (rest.empty() || rest.front() != '/') {
      throw corrupt(lineno, "malformed Conffiles line, expected \" /path <md5>\"");
    }
    Conffile conffile;
    conffile.path = std::string(rest);
    if (is_md5(hash)) {
      conffile.md5 = lower_hex(hash);
    } else if (hash != "newconffile" && hash != "nonexistent" && hash != "-") {
      throw corrupt(lineno, "malformed Conffiles line, bad hash '" + std::string(hash) + "'");
    }
    out.push_back(std::move(conffile));
  }

  std::string m_display;
};

// ---- the info files ----------------------------------------------------------

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
      throw PackageDbError(m_status + ": cannot read dpkg status: " + std::strerror(errno));
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
    const InfoDir info = open_info();
    std::vector<PackageInfo> out;
    out.reserve(entries.size());
    for (const StatusEntry& entry : entries) {
      out.push_back(read_package(info, entry));
    }
    return out;
  }

  std::vector<PackageInfo>
  packages(const std::vector<std::string>& names, std::vector<std::string>& missing) override
  {
    const std::vector<StatusEntry> entries = read_status();
    const InfoDir info = open_info();
    std::vector<PackageInfo> out;
    for (const std::string& name : names) {
      bool found = false;
      for (const StatusEntry& entry : entries) {
        if (matches(entry, name)) {
          out.push_back(read_package(info, entry));
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
    const InfoDir info = open_info();
    std::vector<PackageStamp> out;
    out.reserve(entries.size());
    for (const StatusEntry& entry : entries) {
      std::string fp = entry.version + " " + entry.arch;
      // The file list is rewritten whenever dpkg unpacks the package.
      for (const std::string& list : {entry.display_name() + ".list", entry.package + ".list"}) {
        struct stat st;
        if (info.fd && ::fstatat(info.fd.get(), list.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
          fp += " " + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":"
                + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
          break;
        }
      }
      out.push_back({entry.display_name(), std::move(fp)});
    }
    return out;
  }

  std::string
  change_marker() override
  {
    struct stat st;
    if (::fstatat(m_dir.get(), "status", &st, AT_SYMLINK_NOFOLLOW) != 0) {
      throw PackageDbError(m_status + ": cannot read dpkg status: " + std::strerror(errno));
    }
    std::string marker = "dpkg " + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":"
                         + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    for (const auto& name : journal_files()) {
      struct stat jst;
      if (::fstatat(m_dir.get(), ("updates/" + name).c_str(), &jst, AT_SYMLINK_NOFOLLOW) == 0) {
        marker += " " + name + "=" + std::to_string(jst.st_size) + ":" + std::to_string(jst.st_mtim.tv_sec) + "."
                  + std::to_string(jst.st_mtim.tv_nsec);
      }
    }
    return marker;
  }

private:
  struct InfoDir
  {
    sys::Fd fd;
    int error = 0;  // errno of opening ADMINDIR/info, 0 when open
  };

  // "pkg" matches every installed instance (all architectures of a
  // Multi-Arch: same library), "pkg:arch" the one of that architecture.
  static bool
  matches(const StatusEntry& entry, std::string_view name)
  {
    if (name == entry.package) {
      return true;
    }
    const auto colon = name.find(':');
    return colon != std::string_view::npos && name.substr(0, colon) == entry.package
           && name.substr(colon + 1) == entry.arch;
  }

  // The journal dpkg keeps during a run: updates/NNNN, applied in order on
  // top of status (dpkg folds them into status when it exits). Hooks and
  // triggers run while dpkg still runs, so they must read them too.
  [[nodiscard]] std::vector<std::string>
  journal_files() const
  {
    std::vector<std::string> names;
    const int fd = ::openat(m_dir.get(), "updates", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
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

  [[nodiscard]] std::vector<StatusEntry>
  read_status() const
  {
    StatusParser parser(m_status);
    sys::Fd fd(::openat(m_dir.get(), "status", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) {
      parser.throw_sys(errno);
    }
    std::vector<StatusEntry> all = parser.parse(std::move(fd));
    const auto journal = journal_files();
    if (!journal.empty()) {
      std::map<std::string, std::size_t> index;
      auto key = [](const StatusEntry& e) { return e.multiarch_same ? e.package + ":" + e.arch : e.package; };
      for (std::size_t i = 0; i < all.size(); ++i) {
        index[key(all[i])] = i;
      }
      for (const auto& name : journal) {
        StatusParser jparser(m_admindir + "/updates/" + name);
        sys::Fd jfd(
          ::openat(m_dir.get(), ("updates/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
        if (!jfd) {
          continue;  // folded into status meanwhile
        }
        for (auto& e : jparser.parse(std::move(jfd))) {
          const auto [it, inserted] = index.try_emplace(key(e), all.size());
          if (inserted) {
            all.push_back(std::move(e));
          } else {
            all[it->second] = std::move(e);
          }
        }
      }
    }
    std::vector<StatusEntry> out;
    for (auto& e : all) {
      if (e.on_disk) {
        out.push_back(std::move(e));
      }
    }
    return out;
  }

  [[nodiscard]] InfoDir
  open_info() const
  {
    InfoDir info;
    info.fd = sys::Fd(::openat(m_dir.get(), "info", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!info.fd) {
      info.error = errno;
    }
    return info;
  }

  [[nodiscard]] std::string
  info_display(const std::string& file) const
  {
    return m_admindir + "/info/" + file;
  }

  // Reads info/<base><suffix>; ENOENT and friends come back as errors.
  [[nodiscard]] sys::Result<std::string>
  read_info(const InfoDir& info, const std::string& file) const
  {
    if (!info.fd) {
      return sys::fail_sys("open", info_display(file), info.error);
    }
    return read_regular_file_at(info.fd.get(), file, info_display(file));
  }

  [[nodiscard]] PackageDbError
  info_error(const std::string& file, const std::string& what) const
  {
    return PackageDbError(info_display(file) + ": " + what);
  }

  static std::string
  reason(const sys::Error& error)
  {
    return error.code != 0 ? std::strerror(error.code) : error.message;
  }

  [[nodiscard]] PackageInfo
  read_package(const InfoDir& info, const StatusEntry& entry) const
  {
    PackageInfo pkg;
    pkg.name = entry.display_name();
    pkg.version = entry.version;
    pkg.arch = entry.arch;

    // dpkg names the info files of Multi-Arch: same packages "pkg:arch";
    // try the expected name first, the other one after.
    const std::string qualified =
      entry.arch.empty() || entry.arch == "all" ? std::string() : entry.package + ":" + entry.arch;
    std::string base = entry.multiarch_same ? qualified : entry.package;
    const std::string other = entry.multiarch_same ? entry.package : qualified;

    sys::Result<std::string> list = read_info(info, base + ".list");
    if (!list && list.error().code == ENOENT && !other.empty()) {
      sys::Result<std::string> alt = read_info(info, other + ".list");
      if (alt) {
        base = other;
        list = std::move(alt);
      }
    }
    if (!list) {
      throw info_error(base + ".list",
                       "cannot read file list of installed package " + pkg.name + ": " + reason(list.error()));
    }

    // Paths without their leading '/' (as md5sums names them) -> index.
    std::unordered_map<std::string_view, std::size_t> index;
    const std::string& list_text = *list;
    const std::size_t lines = static_cast<std::size_t>(std::count(list_text.begin(), list_text.end(), '\n')) + 1;
    index.reserve(lines);
    pkg.files.reserve(lines);
    for_each_line(list_text, 1, [&](std::string_view path, std::size_t lineno) {
      if (path.empty() || path == "/.") {
        return;
      }
      if (path.front() != '/') {
        throw info_error(base + ".list", std::to_string(lineno) + ": not an absolute path");
      }
      if (path.size() > 1 && path.back() == '/') {
        path.remove_suffix(1);
      }
      if (index.emplace(path.substr(1), pkg.files.size()).second) {
        PackageFile file;
        file.path = std::string(path);
        pkg.files.push_back(std::move(file));
      }
    });

    read_md5sums(info, base + ".md5sums", index, pkg);

    // Conffiles: the status field, plus info/<pkg>.conffiles.
    std::vector<Conffile> conffiles = entry.conffiles;
    read_conffiles(info, base + ".conffiles", conffiles);
    for (const Conffile& conffile : conffiles) {
      const std::string_view key = std::string_view(conffile.path).substr(1);
      auto it = index.find(key);
      PackageFile* file = nullptr;
      if (it != index.end()) {
        file = &pkg.files[it->second];
      } else {
        // Not (or no longer) in the list, e.g. an obsolete conffile still on
        // disk: listed all the same, it must never be unified.
        // The index holds positions and views of list_text and
        // `conffiles`, so growing pkg.files leaves it valid.
        PackageFile extra;
        extra.path = conffile.path;
        pkg.files.push_back(std::move(extra));
        file = &pkg.files.back();
        index.emplace(key, pkg.files.size() - 1);
      }
      file->config = true;
      if (!conffile.md5.empty()) {
        file->digest_algo = DigestAlgo::md5;
        file->digest = conffile.md5;
      }
    }
    return pkg;
  }

  // "<32 hex>  relative/path" lines. A missing or unreadable file means no
  // digests; a malformed line is a corrupt database.
  void
  read_md5sums(const InfoDir& info, const std::string& file,
               const std::unordered_map<std::string_view, std::size_t>& index, PackageInfo& pkg) const
  {
    sys::Result<std::string> text = read_info(info, file);
    if (!text) {
      return;
    }
    for_each_line(*text, 1, [&](std::string_view line, std::size_t lineno) {
      if (trim(line).empty()) {
        return;
      }
      if (line.size() < 34 || !is_md5(line.substr(0, 32)) || (line[32] != ' ' && line[32] != '\t')) {
        throw info_error(file, std::to_string(lineno) + ": malformed md5sums line");
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
        throw info_error(file, std::to_string(lineno) + ": malformed md5sums line");
      }
      auto it = index.find(path);
      if (it == index.end()) {
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
  read_conffiles(const InfoDir& info, const std::string& file, std::vector<Conffile>& conffiles) const
  {
    sys::Result<std::string> text = read_info(info, file);
    if (!text) {
      if (text.error().code == ENOENT) {
        return;
      }
      throw info_error(file, "cannot read conffiles: " + reason(text.error()));
    }
    for_each_line(*text, 1, [&](std::string_view line, std::size_t lineno) {
      std::string_view path;
      if (!parse_conffiles_line(line, path)) {
        throw info_error(file, std::to_string(lineno) + ": malformed conffiles line");
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
