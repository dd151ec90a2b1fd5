#include "engine/glob.hpp"

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

}  // namespace

sys::Result<Glob>
Glob::compile(std::string_view pattern)
{
  const auto bad = [&](std::string_view problem) {
    std::string message = "bad pattern \"";
    message += pattern;
    message += "\": ";
    message += problem;
    return sys::fail(std::move(message));
  };

  if (pattern.empty()) {
    return bad("empty pattern");
  }

  Glob glob;
  glob.m_pattern = pattern;

  const std::size_t size = pattern.size();
  std::size_t i = 0;
  if (pattern.front() == '/') {
    i = 1;
  } else {
    // Unanchored: "pattern" means "/**/pattern".
    glob.m_segments.push_back(Segment{Segment::Kind::globstar, {}, {}});
  }

  // Reads one possibly escaped character of a class at `i`. Returns an error
  // description, empty on success.
  const auto read_class_char = [&](unsigned char& c) -> std::string {
    if (i == size) {
      return "unterminated character class";
    }
    if (pattern[i] == '\\') {
      if (i + 1 == size) {
        return "unterminated character class";
      }
      ++i;
    }
    c = static_cast<unsigned char>(pattern[i]);
    ++i;
    if (c == '/') {
      return "'/' in a character class";
    }
    return {};
  };

  // Parses a class starting at the '[' at `i` into `cls`; `i` ends up after
  // the closing ']'. Returns an error description, empty on success.
  const auto parse_class = [&](CharClass& cls) -> std::string {
    ++i;  // '['
    bool negate = false;
    if (i < size && (pattern[i] == '!' || pattern[i] == '^')) {
      negate = true;
      ++i;
    }
    bool first = true;  // a ']' right after the opening is literal
    while (true) {
      if (i == size) {
        return "unterminated character class";
      }
      if (pattern[i] == ']' && !first) {
        ++i;
        break;
      }
      first = false;
      unsigned char lo = 0;
      if (auto error = read_class_char(lo); !error.empty()) {
        return error;
      }
      if (i + 1 < size && pattern[i] == '-' && pattern[i + 1] != ']') {
        ++i;  // '-'
        unsigned char hi = 0;
        if (auto error = read_class_char(hi); !error.empty()) {
          return error;
        }
        if (hi < lo) {
          return "bad range '" + describe_char(lo) + "-" + describe_char(hi) + "' in character class";
        }
        for (unsigned c = lo; c <= hi; ++c) {
          set_bit(cls, static_cast<unsigned char>(c));
        }
      } else {
        set_bit(cls, lo);
      }
    }
    if (negate) {
      for (auto& word : cls) {
        word = ~word;
      }
    }
    return {};
  };

  if (i == size) {
    return glob;  // "/": only the root itself
  }

  while (true) {
    // One component: [i, next unescaped '/' outside a class).
    if (i == size) {
      return bad("trailing '/'");
    }
    if (pattern[i] == '/') {
      return bad("empty path component (\"//\")");
    }

    std::vector<Token> tokens;
    bool double_star = false;
    while (i < size && pattern[i] != '/') {
      const char c = pattern[i];
      switch (c) {
      case '\\':
        if (i + 1 == size) {
          return bad("trailing backslash");
        }
        if (pattern[i + 1] == '/') {
          return bad("'/' cannot be escaped");
        }
        tokens.push_back(Token{Token::Op::ch, static_cast<unsigned char>(pattern[i + 1]), 0});
        i += 2;
        break;

      case '*':
        if (!tokens.empty() && tokens.back().op == Token::Op::star) {
          double_star = true;
        }
        tokens.push_back(Token{Token::Op::star, 0, 0});
        ++i;
        break;

      case '?':
        tokens.push_back(Token{Token::Op::any_char, 0, 0});
        ++i;
        break;

      case '[': {
        CharClass cls{};
        if (auto error = parse_class(cls); !error.empty()) {
          return bad(error);
        }
        if (glob.m_classes.size() > std::numeric_limits<std::uint16_t>::max()) {
          return bad("too many character classes");
        }
        tokens.push_back(Token{Token::Op::cls, 0, static_cast<std::uint16_t>(glob.m_classes.size())});
        glob.m_classes.push_back(cls);
        break;
      }

      default:
        tokens.push_back(Token{Token::Op::ch, static_cast<unsigned char>(c), 0});
        ++i;
        break;
      }
    }

    if (double_star) {
      if (tokens.size() != 2) {
        return bad("\"**\" must be a whole path component");
      }
      // "**/**" is the same as "**".
      if (glob.m_segments.empty() || glob.m_segments.back().kind != Segment::Kind::globstar) {
        glob.m_segments.push_back(Segment{Segment::Kind::globstar, {}, {}});
      }
    } else {
      std::size_t stars = 0;
      bool plain = true;  // only literal characters and stars
      for (const auto& token : tokens) {
        if (token.op == Token::Op::star) {
          ++stars;
        } else if (token.op != Token::Op::ch) {
          plain = false;
        }
      }
      const auto literal_text = [&](std::size_t from, std::size_t to) {
        std::string text;
        text.reserve(to - from);
        for (std::size_t k = from; k < to; ++k) {
          text += static_cast<char>(tokens[k].ch);
        }
        return text;
      };

      Segment segment;
      if (plain && stars == 0) {
        segment.kind = Segment::Kind::literal;
        segment.text = literal_text(0, tokens.size());
      } else if (plain && stars == 1 && tokens.size() == 1) {
        segment.kind = Segment::Kind::any;
      } else if (plain && stars == 1 && tokens.front().op == Token::Op::star) {
        segment.kind = Segment::Kind::suffix;
        segment.text = literal_text(1, tokens.size());
      } else if (plain && stars == 1 && tokens.back().op == Token::Op::star) {
        segment.kind = Segment::Kind::prefix;
        segment.text = literal_text(0, tokens.size() - 1);
      } else {
        segment.kind = Segment::Kind::wild;
        segment.tokens = std::move(tokens);
      }
      glob.m_segments.push_back(std::move(segment));
    }

    if (i == size) {
      break;
    }
    ++i;  // '/'
  }

  // A trailing "**" matches one or more components, not zero: "/etc/**" does
  // not match "/etc" itself. Spell it as "*/**".
  if (glob.m_segments.back().kind == Segment::Kind::globstar) {
    glob.m_segments.insert(glob.m_segments.end() - 1, Segment{Segment::Kind::any, {}, {}});
  }

  return glob;
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
