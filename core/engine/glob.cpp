// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/glob.hpp"

#include <algorithm>
#include <expected>
#include <limits>
#include <utility>

// Patterns are compiled into one Segment per path component. Matching walks
// the path's components in place (no allocation) and matches them against the
// segments; "**" segments are handled like "*" in ordinary wildcard matching,
// with components as the characters. Characters are bytes: "?" and classes
// match one byte, which is what fnmatch(3) does in the C locale.

namespace pkgunify {

namespace {

// Finds the next non-empty component of `path` at or after `pos`, stores it in
// `component` and moves `pos` past it. Returns false at the end of the path.
// Repeated and trailing slashes are skipped: "/usr//bin/" is "usr", "bin".
inline bool
next_component(std::string_view path, std::size_t& pos, std::string_view& component)
{
  while (pos < path.size() && path[pos] == '/') {
    ++pos;
  }
  if (pos == path.size()) {
    return false;
  }
  auto end = path.find('/', pos);
  if (end == std::string_view::npos) {
    end = path.size();
  }
  component = path.substr(pos, end - pos);
  pos = end;
  return true;
}

inline void
set_bit(std::array<std::uint64_t, 4>& bits, unsigned char c)
{
  bits[c / 64] |= std::uint64_t{1} << (c % 64);
}

inline bool
test_bit(const std::array<std::uint64_t, 4>& bits, unsigned char c)
{
  return (bits[c / 64] >> (c % 64)) & 1U;
}

std::string
describe_char(unsigned char c)
{
  return std::string(1, static_cast<char>(c));
}

// A step of compiling a pattern: its result, or what is wrong with the
// pattern.
template<typename T>
using Step = std::expected<T, std::string>;

std::unexpected<std::string>
problem(std::string text)
{
  return std::unexpected(std::move(text));
}

}  // namespace

// Compiles one pattern, left to right. A step that meets malformed syntax
// returns the problem: the text after "bad pattern \"...\": ".
class Glob::Compiler
{
public:
  explicit Compiler(std::string_view pattern) : m_pattern(pattern) { m_glob.m_pattern = pattern; }

  // An optional anchor, then components separated by single '/'.
  Step<Glob>
  run()
  {
    if (m_pattern.front() == '/') {
      m_pos = 1;
    } else {
      // Unanchored: "pattern" means "/**/pattern".
      m_glob.m_segments.push_back(Segment{Segment::Kind::globstar, {}, {}});
    }
    if (at_end()) {
      return std::move(m_glob);  // "/": only the root itself
    }
    while (true) {
      if (auto done = component(); !done) {
        return std::unexpected(std::move(done.error()));
      }
      if (at_end()) {
        break;
      }
      ++m_pos;  // '/'
    }
    // A trailing "**" matches one or more components, not zero: "/etc/**"
    // does not match "/etc" itself. Spell it as "*/**".
    if (m_glob.m_segments.back().kind == Segment::Kind::globstar) {
      m_glob.m_segments.insert(m_glob.m_segments.end() - 1, Segment{Segment::Kind::any, {}, {}});
    }
    return std::move(m_glob);
  }

private:
  [[nodiscard]] bool
  at_end() const
  {
    return m_pos == m_pattern.size();
  }

  [[nodiscard]] char
  peek() const
  {
    return m_pattern[m_pos];
  }

  // One component: up to the next '/' (which is never escaped and never in a
  // class), becoming one segment.
  Step<void>
  component()
  {
    if (at_end()) {
      return problem("trailing '/'");
    }
    if (peek() == '/') {
      return problem("empty path component (\"//\")");
    }
    std::vector<Token> tokens;
    while (!at_end() && peek() != '/') {
      auto next = token();
      if (!next) {
        return std::unexpected(std::move(next.error()));
      }
      tokens.push_back(*next);
    }
    return add_segment(std::move(tokens));
  }

  // One token: a character (maybe escaped), '*', '?' or a class.
  Step<Token>
  token()
  {
    const auto c = static_cast<unsigned char>(peek());
    switch (c) {
    case '\\':
      return escaped();
    case '[':
      return class_token();
    case '*':
      ++m_pos;
      return Token{Token::Op::star, 0, 0};
    case '?':
      ++m_pos;
      return Token{Token::Op::any_char, 0, 0};
    default:
      ++m_pos;
      return Token{Token::Op::ch, c, 0};
    }
  }

  // "\c" outside a class.
  Step<Token>
  escaped()
  {
    if (m_pos + 1 == m_pattern.size()) {
      return problem("trailing backslash");
    }
    if (m_pattern[m_pos + 1] == '/') {
      return problem("'/' cannot be escaped");
    }
    const auto c = static_cast<unsigned char>(m_pattern[m_pos + 1]);
    m_pos += 2;
    return Token{Token::Op::ch, c, 0};
  }

  Step<Token>
  class_token()
  {
    CharClass cls{};
    if (auto parsed = char_class(cls); !parsed) {
      return std::unexpected(std::move(parsed.error()));
    }
    if (m_glob.m_classes.size() > std::numeric_limits<std::uint16_t>::max()) {
      return problem("too many character classes");
    }
    const Token token{Token::Op::cls, 0, static_cast<std::uint16_t>(m_glob.m_classes.size())};
    m_glob.m_classes.push_back(cls);
    return token;
  }

  // A class from its '[' to past its closing ']'.
  Step<void>
  char_class(CharClass& cls)
  {
    ++m_pos;  // '['
    const bool negate = !at_end() && (peek() == '!' || peek() == '^');
    if (negate) {
      ++m_pos;
    }
    for (bool first = true;; first = false) {  // a ']' right after the opening is literal
      if (at_end()) {
        return problem("unterminated character class");
      }
      if (peek() == ']' && !first) {
        ++m_pos;
        break;
      }
      if (auto member = class_member(cls); !member) {
        return member;
      }
    }
    if (negate) {
      for (auto& word : cls) {
        word = ~word;
      }
    }
    return {};
  }

  // One character or range ("a-z") of a class.
  Step<void>
  class_member(CharClass& cls)
  {
    const auto lo = class_char();
    if (!lo) {
      return std::unexpected(lo.error());
    }
    if (m_pos + 1 >= m_pattern.size() || peek() != '-' || m_pattern[m_pos + 1] == ']') {
      set_bit(cls, *lo);
      return {};
    }
    ++m_pos;  // '-'
    const auto hi = class_char();
    if (!hi) {
      return std::unexpected(hi.error());
    }
    if (*hi < *lo) {
      return problem("bad range '" + describe_char(*lo) + "-" + describe_char(*hi) + "' in character class");
    }
    for (unsigned c = *lo; c <= *hi; ++c) {
      set_bit(cls, static_cast<unsigned char>(c));
    }
    return {};
  }

  // One possibly escaped character of a class.
  Step<unsigned char>
  class_char()
  {
    if (at_end() || (peek() == '\\' && m_pos + 1 == m_pattern.size())) {
      return problem("unterminated character class");
    }
    if (peek() == '\\') {
      ++m_pos;
    }
    const auto c = static_cast<unsigned char>(peek());
    ++m_pos;
    if (c == '/') {
      return problem("'/' in a character class");
    }
    return c;
  }

  // A component with two stars in a row must be "**" alone, a globstar;
  // any other becomes the segment classify() picks.
  Step<void>
  add_segment(std::vector<Token> tokens)
  {
    const auto is_star = [](const Token& token) { return token.op == Token::Op::star; };
    const bool double_star =
      std::adjacent_find(tokens.begin(), tokens.end(),
                         [&](const Token& a, const Token& b) { return is_star(a) && is_star(b); })
      != tokens.end();
    auto& segments = m_glob.m_segments;
    if (!double_star) {
      segments.push_back(classify(std::move(tokens)));
      return {};
    }
    if (tokens.size() != 2) {
      return problem("\"**\" must be a whole path component");
    }
    // "**/**" is the same as "**".
    if (segments.empty() || segments.back().kind != Segment::Kind::globstar) {
      segments.push_back(Segment{Segment::Kind::globstar, {}, {}});
    }
    return {};
  }

  // The cheapest segment that matches what the tokens match: literal text
  // with at most one star at an end needs no token matching.
  static Segment
  classify(std::vector<Token> tokens)
  {
    const auto stars =
      std::count_if(tokens.begin(), tokens.end(), [](const Token& token) { return token.op == Token::Op::star; });
    const bool plain = std::all_of(tokens.begin(), tokens.end(), [](const Token& token) {
      return token.op == Token::Op::star || token.op == Token::Op::ch;
    });
    const auto text = [&](std::size_t from, std::size_t to) {
      std::string result;
      result.reserve(to - from);
      for (std::size_t k = from; k < to; ++k) {
        result += static_cast<char>(tokens[k].ch);
      }
      return result;
    };
    if (plain && stars == 0) {
      return Segment{Segment::Kind::literal, text(0, tokens.size()), {}};
    }
    if (plain && stars == 1) {
      if (tokens.size() == 1) {
        return Segment{Segment::Kind::any, {}, {}};
      }
      if (tokens.front().op == Token::Op::star) {
        return Segment{Segment::Kind::suffix, text(1, tokens.size()), {}};
      }
      if (tokens.back().op == Token::Op::star) {
        return Segment{Segment::Kind::prefix, text(0, tokens.size() - 1), {}};
      }
    }
    return Segment{Segment::Kind::wild, {}, std::move(tokens)};
  }

  std::string_view m_pattern;
  std::size_t m_pos = 0;
  Glob m_glob;
};

sys::Result<Glob>
Glob::compile(std::string_view pattern)
{
  Step<Glob> glob = pattern.empty() ? Step<Glob>(problem("empty pattern")) : Compiler(pattern).run();
  if (!glob) {
    return sys::fail("bad pattern \"" + std::string(pattern) + "\": " + glob.error());
  }
  return std::move(*glob);
}

bool
Glob::tokens_match(const std::vector<Token>& tokens, std::string_view component) const
{
  // Classic wildcard matching, backtracking only to the last '*'.
  const std::size_t count = tokens.size();
  std::size_t t = 0;
  std::size_t s = 0;
  std::size_t star_t = std::string_view::npos;
  std::size_t star_s = 0;
  while (s < component.size()) {
    if (t < count) {
      const Token& token = tokens[t];
      const auto c = static_cast<unsigned char>(component[s]);
      bool ok = false;
      switch (token.op) {
      case Token::Op::star:
        star_t = t++;
        star_s = s;
        continue;
      case Token::Op::ch:
        ok = token.ch == c;
        break;
      case Token::Op::any_char:
        ok = true;
        break;
      case Token::Op::cls:
        ok = test_bit(m_classes[token.cls], c);
        break;
      }
      if (ok) {
        ++t;
        ++s;
        continue;
      }
    }
    if (star_t == std::string_view::npos) {
      return false;
    }
    t = star_t + 1;
    s = ++star_s;
  }
  while (t < count && tokens[t].op == Token::Op::star) {
    ++t;
  }
  return t == count;
}

bool
Glob::segment_matches(const Segment& segment, std::string_view component) const
{
  switch (segment.kind) {
  case Segment::Kind::literal:
    return component == segment.text;
  case Segment::Kind::any:
  case Segment::Kind::globstar:
    return true;
  case Segment::Kind::prefix:
    return component.starts_with(segment.text);
  case Segment::Kind::suffix:
    return component.ends_with(segment.text);
  case Segment::Kind::wild:
    return tokens_match(segment.tokens, component);
  }
  return false;
}

bool
Glob::match_range(std::size_t first, std::size_t last, std::string_view path, bool open_end) const
{
  // The wildcard algorithm of tokens_match with components as characters and
  // globstars as stars. With `open_end`, segments [first, last) need only
  // match a prefix of the path (as if followed by "**").
  std::size_t seg = first;
  std::size_t pos = 0;
  std::size_t star_seg = std::string_view::npos;
  std::size_t star_pos = 0;
  std::string_view component;
  std::size_t next = pos;
  while (next_component(path, next, component)) {
    if (seg == last && open_end) {
      return true;
    }
    if (seg < last) {
      const Segment& segment = m_segments[seg];
      if (segment.kind == Segment::Kind::globstar) {
        star_seg = seg++;
        star_pos = pos;
        next = pos;  // the globstar consumes nothing yet: retry this component
        continue;
      }
      if (segment_matches(segment, component)) {
        ++seg;
        pos = next;
        continue;
      }
    }
    if (star_seg == std::string_view::npos) {
      return false;
    }
    // Let the last globstar swallow one more component and retry after it.
    seg = star_seg + 1;
    std::string_view swallowed;
    next_component(path, star_pos, swallowed);
    pos = star_pos;
    next = pos;
  }
  while (seg < last && m_segments[seg].kind == Segment::Kind::globstar) {
    ++seg;
  }
  return seg == last;
}

bool
Glob::matches(std::string_view path) const
{
  return match_range(0, m_segments.size(), path, false);
}

bool
Glob::matches_all_below(std::string_view dir) const
{
  // Every path below `dir` matches when the pattern splits into a head that
  // matches `dir` or one of its ancestors and a tail that matches any
  // non-empty run of components: globstars plus at most one "*" (the shape of
  // a trailing "/**"). Other shapes are answered with a conservative false.
  std::size_t any_count = 0;
  bool has_globstar = false;
  for (std::size_t k = m_segments.size(); k-- > 0;) {
    const auto kind = m_segments[k].kind;
    if (kind == Segment::Kind::globstar) {
      has_globstar = true;
    } else if (kind == Segment::Kind::any) {
      if (++any_count > 1) {
        break;
      }
    } else {
      break;
    }
    if (has_globstar && match_range(0, k, dir, true)) {
      return true;
    }
  }
  return false;
}

bool
Glob::may_match_below(std::string_view dir) const
{
  // Simulates the pattern as an NFA over the components of `dir`; state k
  // means "segments [0, k) have matched". Some path below `dir` can match if,
  // afterwards, a state with segments left is active (every segment can
  // match some component).
  const std::size_t count = m_segments.size();
  if (count >= 64) {
    return true;  // does not fit the state mask; unsure
  }
  const auto close = [&](std::uint64_t states) {
    for (std::size_t k = 0; k < count; ++k) {
      if (((states >> k) & 1U) && m_segments[k].kind == Segment::Kind::globstar) {
        states |= std::uint64_t{1} << (k + 1);
      }
    }
    return states;
  };

  std::uint64_t states = close(1);
  std::size_t pos = 0;
  std::string_view component;
  while (next_component(dir, pos, component)) {
    std::uint64_t next = 0;
    for (std::size_t k = 0; k < count; ++k) {
      if (!((states >> k) & 1U)) {
        continue;
      }
      const Segment& segment = m_segments[k];
      if (segment.kind == Segment::Kind::globstar) {
        next |= std::uint64_t{1} << k;
      } else if (segment_matches(segment, component)) {
        next |= std::uint64_t{1} << (k + 1);
      }
    }
    states = close(next);
    if (states == 0) {
      return false;
    }
  }
  const std::uint64_t unfinished = (std::uint64_t{1} << count) - 1;
  return (states & unfinished) != 0;
}

}  // namespace pkgunify
