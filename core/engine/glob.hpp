// SPDX-License-Identifier: GPL-2.0-or-later
// Path glob patterns for policies.
//
// Syntax (matched against absolute paths inside a root, e.g. "/usr/bin/ls"):
//   *      any run of characters except '/'
//   ?      one character except '/'
//   [...]  one character from a class; [!...] or [^...] negates; a-z ranges
//   **     as a whole path component: zero or more components
//   \c     the character c literally
// A pattern that does not start with '/' matches at any depth, as if it were
// written "/**/pattern". A trailing "/**" matches everything below a
// directory but not the directory itself.
#pragma once

#include "sys/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

class Glob
{
public:
  // Fails (with a message, no file name) on an empty pattern, an unterminated
  // class, a trailing backslash, an empty component ("//"), or a "**" that is
  // not a whole component.
  static sys::Result<Glob> compile(std::string_view pattern);

  [[nodiscard]] bool matches(std::string_view path) const;

  // True when every path strictly below directory `dir` matches.
  [[nodiscard]] bool matches_all_below(std::string_view dir) const;

  // True when some path strictly below directory `dir` could match.
  [[nodiscard]] bool may_match_below(std::string_view dir) const;

  [[nodiscard]] const std::string&
  pattern() const
  {
    return m_pattern;
  }

private:
  // One character matcher inside a wildcard component.
  struct Token
  {
    enum class Op : std::uint8_t { ch, any_char, star, cls };
    Op op = Op::ch;
    unsigned char ch = 0;   // Op::ch
    std::uint16_t cls = 0;  // Op::cls: index into m_classes
  };

  // One path component of the normalised pattern.
  struct Segment
  {
    enum class Kind : std::uint8_t {
      literal,   // text, compared exactly
      any,       // "*": any single component
      globstar,  // "**": zero or more components
      prefix,    // "text*"
      suffix,    // "*text"
      wild,      // anything else: tokens
    };
    Kind kind = Kind::literal;
    std::string text;           // unescaped literal part (literal, prefix, suffix)
    std::vector<Token> tokens;  // wild
  };

  using CharClass = std::array<std::uint64_t, 4>;  // bit per byte value

  // Turns the pattern into segments, one step per part of the syntax
  // (glob.cpp).
  class Compiler;

  [[nodiscard]] bool segment_matches(const Segment& segment, std::string_view component) const;
  [[nodiscard]] bool tokens_match(const std::vector<Token>& tokens, std::string_view component) const;
  [[nodiscard]] bool match_range(std::size_t first, std::size_t last, std::string_view path, bool open_end) const;

  std::string m_pattern;            // as written
  std::vector<Segment> m_segments;  // normalised, split at '/'
  std::vector<CharClass> m_classes;
};

}  // namespace pkgunify
