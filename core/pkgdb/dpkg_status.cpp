// SPDX-License-Identifier: GPL-2.0-or-later
// dpkg's status file: deb822 stanzas, read with libapt-pkg's pkgTagFile, each
// with "Status: want flag state" and a "Conffiles:" field of
// " /path <md5>[ flag...]" lines. Every line is checked here too, so that a
// corrupt file is reported with its line, which libapt-pkg does not know.
//
// libapt-pkg reports errors through a thread-local error stack: every use is
// bracketed by an AptErrorScope, which collects what libapt-pkg said and
// restores the caller's messages untouched.
#include "pkgdb/internal/dpkg_status.hpp"

#include "pkgdb/internal/db_files.hpp"
#include "pkgdb/internal/text.hpp"

#include <apt-pkg/error.h>
#include <apt-pkg/fileutl.h>
#include <apt-pkg/tagfile.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

namespace pkgunify::dpkg {

namespace {

using pkgdb_text::for_each_line;
using pkgdb_text::is_md5;
using pkgdb_text::lower_hex;
using pkgdb_text::trim;

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

// The words of `text`, split at blanks and tabs.
std::vector<std::string_view>
split_words(std::string_view text)
{
  std::vector<std::string_view> words;
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
  return words;
}

std::size_t
count_newlines(const char* begin, const char* end)
{
  return static_cast<std::size_t>(std::count(begin, end, '\n'));
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

// ---- the Status field ---------------------------------------------------------

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

// ---- the parser ----------------------------------------------------------------

// FileFd closes the descriptor it was given when it is done with it.
constexpr bool k_file_fd_closes = true;

class StatusParser
{
public:
  explicit StatusParser(std::string display) : m_display(std::move(display)) {}

  std::vector<StatusEntry>
  parse(sys::Fd fd)
  {
    const unsigned long long size = regular_file_size(fd.get());
    AptErrorScope scope;
    FileFd file;
    if (!file.OpenDescriptor(fd.release(), FileFd::ReadOnly, FileFd::None, k_file_fd_closes)) {
      throw apt_failure();
    }
    // A buffer of the whole file saves pkgTagFile from refilling; it grows by
    // itself should the file have grown since.
    pkgTagFile tags(&file, size + 1);
    if (AptErrorScope::pending()) {
      throw apt_failure();
    }
    std::vector<StatusEntry> entries = read_stanzas(tags);
    if (AptErrorScope::pending()) {
      throw apt_failure();
    }
    return entries;
  }

private:
  [[nodiscard]] PackageDbError
  corrupt(std::size_t line, const std::string& what) const
  {
    return PackageDbError(m_display + ":" + std::to_string(line) + ": " + what);
  }

  // What libapt-pkg said, as the reason the file cannot be read.
  [[nodiscard]] PackageDbError
  apt_failure() const
  {
    return status_error(m_display, AptErrorScope::take_messages());
  }

  // pkgTagFile reads whatever the descriptor gives, into a buffer of the size
  // it is given: a FIFO or a directory in the status file's place is refused
  // before, and so is a file past the limit (a sparse one at once, nothing
  // read). pkgTagFile never grows its buffer past 2 MiB by itself (a longer
  // stanza fails), so a file that grows after this check cannot make it
  // allocate more.
  [[nodiscard]] unsigned long long
  regular_file_size(int fd) const
  {
    struct stat st = {};
    if (::fstat(fd, &st) != 0) {
      throw status_error(m_display, std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
      throw status_error(m_display, "not a regular file");
    }
    if (auto fits = pkgdb_files::check_size(st, pkgdb_files::k_max_status_size, m_display); !fits) {
      throw status_error(m_display, pkgdb_files::reason(fits.error(), m_display));
    }
    return static_cast<unsigned long long>(st.st_size);
  }

  // The packages of the stanzas `tags` holds, in file order.
  std::vector<StatusEntry>
  read_stanzas(pkgTagFile& tags) const
  {
    std::vector<StatusEntry> entries;
    pkgTagSection section;
    std::size_t line = 1;  // the line at tags.Offset()
    for (;;) {
      const unsigned long before = tags.Offset();
      if (!tags.Step(section)) {
        if (AptErrorScope::pending()) {
          throw malformed_stanza(line);
        }
        return entries;
      }
      // The bytes Step consumed (the stanza and the blank lines after it)
      // start at the section, which is still in pkgTagFile's buffer.
      const char* begin = nullptr;
      const char* end = nullptr;
      section.GetSection(begin, end);
      const char* consumed_end = begin + (tags.Offset() - before);
      if (std::optional<StatusEntry> entry = read_stanza(section, begin, end, line)) {
        entries.push_back(std::move(*entry));
      }
      line += count_newlines(begin, consumed_end);
    }
  }

  // The stanza at `line` that pkgTagFile could not take apart.
  [[nodiscard]] PackageDbError
  malformed_stanza(std::size_t line) const
  {
    // libapt-pkg names the file, which it only knows as "" here.
    std::string why = AptErrorScope::take_messages();
    for (auto pos = why.find("  "); pos != std::string::npos; pos = why.find("  ")) {
      why.erase(pos, 1);
    }
    return corrupt(line, "malformed stanza (libapt-pkg: " + why + ")");
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

  // The package of the stanza [begin, end) at line `first_line`; nullopt for
  // blank lines only.
  std::optional<StatusEntry>
  read_stanza(const pkgTagSection& section, const char* begin, const char* end, std::size_t first_line) const
  {
    const std::size_t start = check_lines(begin, end, first_line);
    if (start == 0) {
      return std::nullopt;
    }
    StatusEntry entry;
    entry.package = read_package_name(section, start);
    entry.on_disk = read_install_state(section, start, entry.package) == InstallState::on_disk;
    entry.arch = section.FindS("Architecture");
    if (!entry.arch.empty() && !valid_arch(entry.arch)) {
      throw corrupt(start, "package '" + entry.package + "': invalid Architecture '" + entry.arch + "'");
    }
    entry.version = section.FindS("Version");
    entry.multiarch_same = section.FindS("Multi-Arch") == "same" && !entry.arch.empty() && entry.arch != "all";
    entry.conffiles = read_conffiles_field(section, begin, first_line);
    return entry;
  }

  // The Package field of the stanza whose first field is at line `start`.
  [[nodiscard]] std::string
  read_package_name(const pkgTagSection& section, std::size_t start) const
  {
    std::string package = section.FindS("Package");
    if (package.empty()) {
      throw corrupt(start, "stanza without Package field");
    }
    if (!valid_package_name(package)) {
      throw corrupt(start, "invalid package name '" + package + "'");
    }
    return package;
  }

  // The state word of the Status field: "want flag state".
  [[nodiscard]] InstallState
  read_install_state(const pkgTagSection& section, std::size_t start, const std::string& package) const
  {
    const std::string status = section.FindS("Status");
    if (status.empty()) {
      throw corrupt(start, "package '" + package + "' has no Status field");
    }
    const std::vector<std::string_view> words = split_words(status);
    if (words.size() != 3) {
      throw corrupt(start, "package '" + package + "': malformed Status '" + status + "'");
    }
    const InstallState state = install_state(words[2]);
    if (state == InstallState::unknown) {
      throw corrupt(start, "package '" + package + "': unknown state '" + std::string(words[2]) + "'");
    }
    return state;
  }

  // The Conffiles field of the stanza starting at `begin` (line
  // `first_line`); its lines are numbered where they stand in the file.
  [[nodiscard]] std::vector<Conffile>
  read_conffiles_field(const pkgTagSection& section, const char* begin, std::size_t first_line) const
  {
    std::vector<Conffile> conffiles;
    const char* value = nullptr;
    const char* value_end = nullptr;
    if (section.Find("Conffiles", value, value_end) && value != nullptr && value < value_end) {
      const std::size_t value_line = first_line + count_newlines(begin, value);
      for_each_line(
        std::string_view(value, static_cast<std::size_t>(value_end - value)), value_line,
        [&](std::string_view text, std::size_t lineno) { conffiles.push_back(parse_conffile(text, lineno)); });
    }
    return conffiles;
  }

  // One Conffiles line: "/path <hash>[ obsolete][ remove-on-upgrade]". The
  // path may contain spaces, so it is parsed from the right, as dpkg does.
  [[nodiscard]] Conffile
  parse_conffile(std::string_view text, std::size_t lineno) const
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
    return conffile;
  }

  std::string m_display;
};

}  // namespace

std::vector<StatusEntry>
parse_status(sys::Fd fd, const std::string& display)
{
  return StatusParser(display).parse(std::move(fd));
}

PackageDbError
status_error(const std::string& display, std::string_view reason)
{
  return PackageDbError(display + ": cannot read dpkg status: " + std::string(reason));
}

}  // namespace pkgunify::dpkg
