// SPDX-License-Identifier: GPL-2.0-or-later
// Text helpers the Debian readers share (dpkg's database, .deb control
// members): lines with their numbers, trimming, field names, md5 digests,
// conffiles lines.
// Private to core/pkgdb.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace pkgunify::pkgdb_text {

// Calls `fn(line, lineno)` for every line of `text` (without the newline and
// without a trailing '\r'); lineno counts from `first`.
template<typename Fn>
void
for_each_line(std::string_view text, std::size_t first, Fn&& fn)
{
  std::size_t lineno = first;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::string_view line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    fn(line, lineno);
    ++lineno;
    pos = end + 1;
  }
}

inline std::string_view
trim(std::string_view s)
{
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

// Case-insensitive ASCII comparison (control field names).
inline bool
iequals(std::string_view a, std::string_view b)
{
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// 32 hex digits of either case: an md5 digest as dpkg writes it.
inline bool
is_md5(std::string_view s)
{
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

// `s` with the hex digits A-F in lowercase.
inline std::string
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

// One line of a conffiles file (a .deb's control member, dpkg's
// info/<package>.conffiles): "/path" or "remove-on-upgrade /path". Sets
// `path` (empty for a blank line); false when the line is malformed.
inline bool
parse_conffiles_line(std::string_view line, std::string_view& path)
{
  line = trim(line);
  path = {};
  if (line.empty()) {
    return true;
  }
  if (line.front() != '/') {
    const auto sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos || line.substr(0, sp) != "remove-on-upgrade") {
      return false;
    }
    line = trim(line.substr(sp));
    if (line.empty() || line.front() != '/') {
      return false;
    }
  }
  path = line;
  return true;
}

}  // namespace pkgunify::pkgdb_text
