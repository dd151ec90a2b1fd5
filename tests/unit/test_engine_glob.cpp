// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/glob.hpp"

#include "testutil.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using pkgunify::Glob;

namespace {

Glob
glob(std::string_view pattern)
{
  auto result = Glob::compile(pattern);
  if (!result) {
    throw std::runtime_error("unexpected compile error: " + result.error().message);
  }
  return *result;
}

// The compile error for `pattern`, or "(compiled)".
std::string
compile_error(std::string_view pattern)
{
  auto result = Glob::compile(pattern);
  return result ? std::string("(compiled)") : result.error().message;
}

bool
matches(std::string_view pattern, std::string_view path)
{
  return glob(pattern).matches(path);
}

}  // namespace

// --- literals --------------------------------------------------------------

TEST(Glob, LiteralMatchesOnlyItself)
{
  const auto g = glob("/usr/bin/ls");
  EXPECT_TRUE(g.matches("/usr/bin/ls"));
  EXPECT_FALSE(g.matches("/usr/bin/lsx"));
  EXPECT_FALSE(g.matches("/usr/bin/l"));
  EXPECT_FALSE(g.matches("/usr/bin"));
  EXPECT_FALSE(g.matches("/usr/bin/ls/x"));
  EXPECT_FALSE(g.matches("/bin/ls"));
  EXPECT_FALSE(g.matches("/"));
}

TEST(Glob, LiteralIsCaseSensitive)
{
  EXPECT_TRUE(matches("/usr/Bin", "/usr/Bin"));
  EXPECT_FALSE(matches("/usr/Bin", "/usr/bin"));
}

TEST(Glob, RootPatternMatchesOnlyRoot)
{
  const auto g = glob("/");
  EXPECT_TRUE(g.matches("/"));
  EXPECT_FALSE(g.matches("/usr"));
}

TEST(Glob, PathSlashesAreNormalised)
{
  const auto g = glob("/usr/bin/ls");
  EXPECT_TRUE(g.matches("/usr//bin/ls"));
  EXPECT_TRUE(g.matches("//usr/bin/ls/"));
  EXPECT_TRUE(g.matches("usr/bin/ls"));
}

TEST(Glob, PatternReturnsTextAsWritten)
{
  EXPECT_EQ(glob("*.pyc").pattern(), "*.pyc");
  EXPECT_EQ(glob("/etc/**").pattern(), "/etc/**");
  EXPECT_EQ(glob("/a\\*b").pattern(), "/a\\*b");
}

TEST(Glob, NonAsciiBytesMatchLiterally)
{
  EXPECT_TRUE(matches("/usr/share/caf\xc3\xa9", "/usr/share/caf\xc3\xa9"));
  EXPECT_FALSE(matches("/usr/share/caf\xc3\xa9", "/usr/share/cafe"));
}

// --- * ---------------------------------------------------------------------

TEST(Glob, StarMatchesOneWholeComponent)
{
  const auto g = glob("/usr/bin/*");
  EXPECT_TRUE(g.matches("/usr/bin/ls"));
  EXPECT_TRUE(g.matches("/usr/bin/.hidden"));
  EXPECT_FALSE(g.matches("/usr/bin"));
  EXPECT_FALSE(g.matches("/usr/bin/x/y"));
}

TEST(Glob, StarDoesNotCrossSlash)
{
  EXPECT_FALSE(matches("/usr/*", "/usr/lib/x"));
  EXPECT_FALSE(matches("/u*b", "/usr/lib"));
  EXPECT_TRUE(matches("/*/lib", "/usr/lib"));
  EXPECT_FALSE(matches("/*/lib", "/lib"));
}

TEST(Glob, StarAsPrefix)
{
  const auto g = glob("/usr/lib/*.so");
  EXPECT_TRUE(g.matches("/usr/lib/libc.so"));
  EXPECT_TRUE(g.matches("/usr/lib/.so"));
  EXPECT_FALSE(g.matches("/usr/lib/libc.so.6"));
  EXPECT_FALSE(g.matches("/usr/lib/so"));
}

TEST(Glob, StarAsSuffix)
{
  const auto g = glob("/usr/lib/libc*");
  EXPECT_TRUE(g.matches("/usr/lib/libc"));
  EXPECT_TRUE(g.matches("/usr/lib/libc.so.6"));
  EXPECT_FALSE(g.matches("/usr/lib/lib"));
  EXPECT_FALSE(g.matches("/usr/lib/xlibc"));
}

TEST(Glob, StarInTheMiddle)
{
  const auto g = glob("/usr/lib/lib*.so");
  EXPECT_TRUE(g.matches("/usr/lib/libc.so"));
  EXPECT_TRUE(g.matches("/usr/lib/lib.so"));
  EXPECT_FALSE(g.matches("/usr/lib/libc.so.6"));
  EXPECT_FALSE(g.matches("/usr/lib/lib.s"));
}

TEST(Glob, SeveralStarsInOneComponentBacktrack)
{
  const auto g = glob("/a/*x*y*");
  EXPECT_TRUE(g.matches("/a/xy"));
  EXPECT_TRUE(g.matches("/a/_x_x_y_"));
  EXPECT_TRUE(g.matches("/a/yxxy"));
  EXPECT_FALSE(g.matches("/a/yx"));
  EXPECT_TRUE(matches("/a/*ab", "/a/aaab"));
  EXPECT_FALSE(matches("/a/*ab", "/a/aaba"));
}

// --- ? ---------------------------------------------------------------------

TEST(Glob, QuestionMarkMatchesExactlyOneCharacter)
{
  const auto g = glob("/bin/l?");
  EXPECT_TRUE(g.matches("/bin/ls"));
  EXPECT_TRUE(g.matches("/bin/l."));
  EXPECT_FALSE(g.matches("/bin/l"));
  EXPECT_FALSE(g.matches("/bin/lss"));
}

TEST(Glob, QuestionMarkDoesNotMatchSlash)
{
  EXPECT_FALSE(matches("/a?b", "/a/b"));
}

TEST(Glob, QuestionMarkMatchesOneByte)
{
  // "é" is two bytes in UTF-8.
  EXPECT_TRUE(matches("/caf??", "/caf\xc3\xa9"));
  EXPECT_FALSE(matches("/caf?", "/caf\xc3\xa9"));
}

// --- classes ---------------------------------------------------------------

TEST(Glob, ClassMatchesListedCharacters)
{
  const auto g = glob("/lib[36]4");
  EXPECT_TRUE(g.matches("/lib64"));
  EXPECT_TRUE(g.matches("/lib34"));
  EXPECT_FALSE(g.matches("/lib4"));
  EXPECT_FALSE(g.matches("/lib54"));
  EXPECT_FALSE(g.matches("/lib364"));
}

TEST(Glob, ClassRange)
{
  const auto g = glob("/rc[0-6].d");
  EXPECT_TRUE(g.matches("/rc0.d"));
  EXPECT_TRUE(g.matches("/rc6.d"));
  EXPECT_FALSE(g.matches("/rc7.d"));
  EXPECT_FALSE(g.matches("/rcS.d"));
}

TEST(Glob, ClassSeveralRangesAndCharacters)
{
  const auto g = glob("/[a-cx-z_0-9]");
  for (const char* ok : {"/a", "/b", "/c", "/x", "/z", "/_", "/5"}) {
    EXPECT_TRUE(g.matches(ok)) << ok;
  }
  for (const char* no : {"/d", "/w", "/A", "/-"}) {
    EXPECT_FALSE(g.matches(no)) << no;
  }
}

TEST(Glob, ClassNegatedWithExclamationMark)
{
  const auto g = glob("/x[!0-9]");
  EXPECT_TRUE(g.matches("/xa"));
  EXPECT_FALSE(g.matches("/x1"));
  EXPECT_FALSE(g.matches("/x"));
}

TEST(Glob, ClassNegatedWithCaret)
{
  const auto g = glob("/x[^0-9]");
  EXPECT_TRUE(g.matches("/xa"));
  EXPECT_FALSE(g.matches("/x1"));
}

TEST(Glob, NegatedClassNeverMatchesSlash)
{
  EXPECT_FALSE(matches("/a[!x]b", "/a/b"));
}

TEST(Glob, ClassClosingBracketFirstIsLiteral)
{
  const auto g = glob("/[]a]");
  EXPECT_TRUE(g.matches("/]"));
  EXPECT_TRUE(g.matches("/a"));
  EXPECT_FALSE(g.matches("/b"));

  const auto n = glob("/[!]a]");
  EXPECT_FALSE(n.matches("/]"));
  EXPECT_FALSE(n.matches("/a"));
  EXPECT_TRUE(n.matches("/b"));
}

TEST(Glob, ClassDashFirstOrLastIsLiteral)
{
  const auto first = glob("/[-a]");
  EXPECT_TRUE(first.matches("/-"));
  EXPECT_TRUE(first.matches("/a"));
  EXPECT_FALSE(first.matches("/b"));

  const auto last = glob("/[a-]");
  EXPECT_TRUE(last.matches("/-"));
  EXPECT_TRUE(last.matches("/a"));
  EXPECT_FALSE(last.matches("/b"));
}

TEST(Glob, ClassEscapes)
{
  const auto g = glob("/[\\]\\\\]");
  EXPECT_TRUE(g.matches("/]"));
  EXPECT_TRUE(g.matches("/\\"));
  EXPECT_FALSE(g.matches("/a"));

  const auto range = glob("/[\\!-\\#]");
  EXPECT_TRUE(range.matches("/!"));
  EXPECT_TRUE(range.matches("/\""));
  EXPECT_TRUE(range.matches("/#"));
  EXPECT_FALSE(range.matches("/$"));
}

TEST(Glob, ClassMetacharactersAreLiteralInside)
{
  const auto g = glob("/[*?[]");
  EXPECT_TRUE(g.matches("/*"));
  EXPECT_TRUE(g.matches("/?"));
  EXPECT_TRUE(g.matches("/["));
  EXPECT_FALSE(g.matches("/a"));
}

TEST(Glob, ClassCombinedWithStar)
{
  const auto g = glob("/usr/lib/python3.[0-9]*/*.py[co]");
  EXPECT_TRUE(g.matches("/usr/lib/python3.11/os.pyc"));
  EXPECT_TRUE(g.matches("/usr/lib/python3.9/os.pyo"));
  EXPECT_FALSE(g.matches("/usr/lib/python3.11/os.py"));
  EXPECT_FALSE(g.matches("/usr/lib/python3.x/os.pyc"));
}

// --- escapes ---------------------------------------------------------------

TEST(Glob, EscapedMetacharactersAreLiteral)
{
  EXPECT_TRUE(matches("/a\\*b", "/a*b"));
  EXPECT_FALSE(matches("/a\\*b", "/axb"));
  EXPECT_TRUE(matches("/a\\?", "/a?"));
  EXPECT_FALSE(matches("/a\\?", "/ab"));
  EXPECT_TRUE(matches("/\\[a]", "/[a]"));
  EXPECT_FALSE(matches("/\\[a]", "/a"));
  EXPECT_TRUE(matches("/a\\\\b", "/a\\b"));
}

TEST(Glob, EscapedOrdinaryCharacterIsItself)
{
  EXPECT_TRUE(matches("/\\a\\b", "/ab"));
}

TEST(Glob, EscapedStarsAreNotAGlobstar)
{
  EXPECT_TRUE(matches("/a/\\*\\*", "/a/**"));
  EXPECT_FALSE(matches("/a/\\*\\*", "/a/b"));
  EXPECT_TRUE(matches("/a/\\**", "/a/*b"));
  EXPECT_FALSE(matches("/a/\\**", "/a/b"));
  EXPECT_TRUE(matches("/a/*\\*", "/a/b*"));
}

// --- ** --------------------------------------------------------------------

TEST(Glob, GlobstarAtStartMatchesAnyDepthIncludingTop)
{
  const auto g = glob("/**/ls");
  EXPECT_TRUE(g.matches("/ls"));
  EXPECT_TRUE(g.matches("/bin/ls"));
  EXPECT_TRUE(g.matches("/usr/local/bin/ls"));
  EXPECT_FALSE(g.matches("/usr/bin/lsx"));
  EXPECT_FALSE(g.matches("/usr/bin/ls/x"));
}

TEST(Glob, GlobstarInMiddleMatchesZeroOrMoreComponents)
{
  const auto g = glob("/usr/**/bin");
  EXPECT_TRUE(g.matches("/usr/bin"));
  EXPECT_TRUE(g.matches("/usr/local/bin"));
  EXPECT_TRUE(g.matches("/usr/a/b/c/bin"));
  EXPECT_FALSE(g.matches("/usr/binx"));
  EXPECT_FALSE(g.matches("/usr/bin/x"));
  EXPECT_FALSE(g.matches("/bin"));
}

TEST(Glob, GlobstarAtEndMatchesBelowButNotTheDirectory)
{
  const auto g = glob("/etc/**");
  EXPECT_TRUE(g.matches("/etc/passwd"));
  EXPECT_TRUE(g.matches("/etc/ssh/sshd_config"));
  EXPECT_FALSE(g.matches("/etc"));
  EXPECT_FALSE(g.matches("/etc/"));
  EXPECT_FALSE(g.matches("/etcetera/x"));
  EXPECT_FALSE(g.matches("/"));
}

TEST(Glob, GlobstarAloneMatchesEverythingButRoot)
{
  const auto g = glob("/**");
  EXPECT_FALSE(g.matches("/"));
  EXPECT_TRUE(g.matches("/usr"));
  EXPECT_TRUE(g.matches("/usr/bin/ls"));
}

TEST(Glob, SeveralGlobstars)
{
  const auto g = glob("/usr/**/lib/**/*.so");
  EXPECT_TRUE(g.matches("/usr/lib/x.so"));
  EXPECT_TRUE(g.matches("/usr/local/lib/x.so"));
  EXPECT_TRUE(g.matches("/usr/local/lib/a/b/x.so"));
  EXPECT_TRUE(g.matches("/usr/lib/lib/lib/x.so"));
  EXPECT_FALSE(g.matches("/usr/local/lib"));
  EXPECT_FALSE(g.matches("/usr/local/x.so"));
}

TEST(Glob, ConsecutiveGlobstarsActAsOne)
{
  const auto g = glob("/a/**/**/b");
  EXPECT_TRUE(g.matches("/a/b"));
  EXPECT_TRUE(g.matches("/a/x/y/b"));
  const auto end = glob("/a/**/**");
  EXPECT_FALSE(end.matches("/a"));
  EXPECT_TRUE(end.matches("/a/x"));
}

TEST(Glob, GlobstarBacktracks)
{
  const auto g = glob("/**/a/**/b");
  EXPECT_TRUE(g.matches("/a/x/a/y/b"));
  EXPECT_TRUE(g.matches("/x/a/b"));
  EXPECT_FALSE(g.matches("/x/a/b/c"));
  EXPECT_FALSE(g.matches("/b/a"));
}

TEST(Glob, GlobstarMatchesHiddenComponents)
{
  EXPECT_TRUE(matches("/home/**", "/home/u/.cache/x"));
}

TEST(Glob, GlobstarWithLongPathIsFast)
{
  std::string path;
  for (int i = 0; i < 200; ++i) {
    path += "/a";
  }
  const auto g = glob("/**/a/**/a/**/a/**/b");
  EXPECT_FALSE(g.matches(path));
  EXPECT_TRUE(g.matches(path + "/b"));
}

// --- patterns without a leading '/' ----------------------------------------

TEST(Glob, UnanchoredPatternMatchesAtAnyDepth)
{
  const auto g = glob("*.pyc");
  EXPECT_TRUE(g.matches("/x.pyc"));
  EXPECT_TRUE(g.matches("/usr/lib/python3/x.pyc"));
  EXPECT_FALSE(g.matches("/usr/lib/x.py"));
  EXPECT_FALSE(g.matches("/usr/x.pyc/y"));
}

TEST(Glob, UnanchoredPatternWithSeveralComponents)
{
  const auto g = glob("lib/*.so");
  EXPECT_TRUE(g.matches("/lib/x.so"));
  EXPECT_TRUE(g.matches("/usr/lib/x.so"));
  EXPECT_FALSE(g.matches("/usr/lib64/x.so"));
  EXPECT_FALSE(g.matches("/usr/lib/a/x.so"));
}

TEST(Glob, UnanchoredLiteral)
{
  const auto g = glob("__pycache__");
  EXPECT_TRUE(g.matches("/__pycache__"));
  EXPECT_TRUE(g.matches("/usr/lib/__pycache__"));
  EXPECT_FALSE(g.matches("/usr/lib/__pycache__/x.pyc"));
}

TEST(Glob, UnanchoredGlobstarPatterns)
{
  const auto all = glob("**");
  EXPECT_FALSE(all.matches("/"));
  EXPECT_TRUE(all.matches("/a"));
  EXPECT_TRUE(all.matches("/a/b"));

  const auto tail = glob("__pycache__/**");
  EXPECT_TRUE(tail.matches("/usr/__pycache__/x.pyc"));
  EXPECT_FALSE(tail.matches("/usr/__pycache__"));

  const auto head = glob("**/ls");
  EXPECT_TRUE(head.matches("/ls"));
  EXPECT_TRUE(head.matches("/usr/bin/ls"));
}

// --- compile errors --------------------------------------------------------

TEST(GlobError, EmptyPattern)
{
  EXPECT_EQ(compile_error(""), "bad pattern \"\": empty pattern");
}

TEST(GlobError, UnterminatedClass)
{
  EXPECT_EQ(compile_error("/usr/[a-"), "bad pattern \"/usr/[a-\": unterminated character class");
  EXPECT_EQ(compile_error("/usr/[abc"), "bad pattern \"/usr/[abc\": unterminated character class");
  EXPECT_EQ(compile_error("/["), "bad pattern \"/[\": unterminated character class");
  EXPECT_EQ(compile_error("/[]"), "bad pattern \"/[]\": unterminated character class");
  EXPECT_EQ(compile_error("/[!]"), "bad pattern \"/[!]\": unterminated character class");
  EXPECT_EQ(compile_error("/[a\\"), "bad pattern \"/[a\\\": unterminated character class");
}

TEST(GlobError, SlashInClass)
{
  EXPECT_EQ(compile_error("/a[/]b"), "bad pattern \"/a[/]b\": '/' in a character class");
  EXPECT_EQ(compile_error("/a[b/c]"), "bad pattern \"/a[b/c]\": '/' in a character class");
}

TEST(GlobError, ReversedRange)
{
  EXPECT_EQ(compile_error("/[z-a]"), "bad pattern \"/[z-a]\": bad range 'z-a' in character class");
}

TEST(GlobError, TrailingBackslash)
{
  EXPECT_EQ(compile_error("/usr/a\\"), "bad pattern \"/usr/a\\\": trailing backslash");
}

TEST(GlobError, EscapedSlash)
{
  EXPECT_EQ(compile_error("/a\\/b"), "bad pattern \"/a\\/b\": '/' cannot be escaped");
}

TEST(GlobError, EmptyComponent)
{
  EXPECT_EQ(compile_error("/usr//bin"), "bad pattern \"/usr//bin\": empty path component (\"//\")");
  EXPECT_EQ(compile_error("//usr"), "bad pattern \"//usr\": empty path component (\"//\")");
}

TEST(GlobError, TrailingSlash)
{
  EXPECT_EQ(compile_error("/usr/"), "bad pattern \"/usr/\": trailing '/'");
  EXPECT_EQ(compile_error("usr/"), "bad pattern \"usr/\": trailing '/'");
}

TEST(GlobError, GlobstarNotAWholeComponent)
{
  const std::string problem = ": \"**\" must be a whole path component";
  EXPECT_EQ(compile_error("/usr/a**"), "bad pattern \"/usr/a**\"" + problem);
  EXPECT_EQ(compile_error("/usr/**a"), "bad pattern \"/usr/**a\"" + problem);
  EXPECT_EQ(compile_error("/usr/***"), "bad pattern \"/usr/***\"" + problem);
  EXPECT_EQ(compile_error("**.pyc"), "bad pattern \"**.pyc\"" + problem);
}

TEST(GlobError, ValidEdgeCasesCompile)
{
  EXPECT_EQ(compile_error("/"), "(compiled)");
  EXPECT_EQ(compile_error("*"), "(compiled)");
  EXPECT_EQ(compile_error("**"), "(compiled)");
  EXPECT_EQ(compile_error("/[]]"), "(compiled)");
  EXPECT_EQ(compile_error("/a]"), "(compiled)");
  EXPECT_EQ(compile_error("/*/*"), "(compiled)");
}

// --- matches_all_below -----------------------------------------------------

TEST(GlobAllBelow, TrailingGlobstarCoversItsDirectoryAndBelow)
{
  const auto g = glob("/etc/**");
  EXPECT_TRUE(g.matches_all_below("/etc"));
  EXPECT_TRUE(g.matches_all_below("/etc/foo"));
  EXPECT_TRUE(g.matches_all_below("/etc/foo/bar"));
  EXPECT_FALSE(g.matches_all_below("/"));
  EXPECT_FALSE(g.matches_all_below("/etcx"));
  EXPECT_FALSE(g.matches_all_below("/usr"));
}

TEST(GlobAllBelow, RootGlobstarCoversEverything)
{
  const auto g = glob("/**");
  EXPECT_TRUE(g.matches_all_below("/"));
  EXPECT_TRUE(g.matches_all_below("/usr"));
  EXPECT_TRUE(g.matches_all_below("/usr/lib"));
  EXPECT_TRUE(glob("**").matches_all_below("/"));
  EXPECT_TRUE(glob("/**/*").matches_all_below("/"));
}

TEST(GlobAllBelow, FilterBelowDirectoryIsNotAll)
{
  const auto g = glob("/usr/**/*.pyc");
  EXPECT_FALSE(g.matches_all_below("/usr"));
  EXPECT_FALSE(g.matches_all_below("/usr/lib"));
  EXPECT_FALSE(glob("*.pyc").matches_all_below("/"));
}

TEST(GlobAllBelow, PatternWithoutGlobstarIsNeverAll)
{
  EXPECT_FALSE(glob("/var").matches_all_below("/var"));
  EXPECT_FALSE(glob("/var/*").matches_all_below("/var"));
  EXPECT_FALSE(glob("/var/*").matches_all_below("/"));
  EXPECT_FALSE(glob("/").matches_all_below("/"));
}

TEST(GlobAllBelow, WildcardHead)
{
  const auto g = glob("/usr/*/**");
  EXPECT_TRUE(g.matches_all_below("/usr/lib"));
  EXPECT_TRUE(g.matches_all_below("/usr/lib/x"));
  EXPECT_FALSE(g.matches_all_below("/usr"));

  const auto cls = glob("/opt/[a-c]*/**");
  EXPECT_TRUE(cls.matches_all_below("/opt/app"));
  EXPECT_FALSE(cls.matches_all_below("/opt/zed"));
}

TEST(GlobAllBelow, UnanchoredTrailingGlobstar)
{
  const auto g = glob("__pycache__/**");
  EXPECT_TRUE(g.matches_all_below("/__pycache__"));
  EXPECT_TRUE(g.matches_all_below("/usr/lib/__pycache__"));
  EXPECT_TRUE(g.matches_all_below("/usr/lib/__pycache__/x"));
  EXPECT_FALSE(g.matches_all_below("/usr/lib"));
}

TEST(GlobAllBelow, MiddleGlobstarHead)
{
  const auto g = glob("/usr/**/doc/**");
  EXPECT_TRUE(g.matches_all_below("/usr/doc"));
  EXPECT_TRUE(g.matches_all_below("/usr/share/doc"));
  EXPECT_TRUE(g.matches_all_below("/usr/share/doc/x"));
  EXPECT_FALSE(g.matches_all_below("/usr/share"));
  EXPECT_FALSE(g.matches_all_below("/doc"));
}

TEST(GlobAllBelow, DirectorySlashesAreNormalised)
{
  EXPECT_TRUE(glob("/etc/**").matches_all_below("/etc/"));
  EXPECT_TRUE(glob("/etc/**").matches_all_below("//etc"));
}

// --- may_match_below -------------------------------------------------------

TEST(GlobMayMatchBelow, UnrelatedDirectoryIsFalse)
{
  const auto g = glob("/usr/lib/**");
  EXPECT_FALSE(g.may_match_below("/etc"));
  EXPECT_FALSE(g.may_match_below("/usr/libx"));
  EXPECT_FALSE(g.may_match_below("/usr/share"));
}

TEST(GlobMayMatchBelow, AncestorsAndDescendantsAreTrue)
{
  const auto g = glob("/usr/lib/**");
  EXPECT_TRUE(g.may_match_below("/"));
  EXPECT_TRUE(g.may_match_below("/usr"));
  EXPECT_TRUE(g.may_match_below("/usr/lib"));
  EXPECT_TRUE(g.may_match_below("/usr/lib/x/y"));
}

TEST(GlobMayMatchBelow, ExactPathHasNothingBelow)
{
  const auto g = glob("/usr/bin/ls");
  EXPECT_TRUE(g.may_match_below("/"));
  EXPECT_TRUE(g.may_match_below("/usr/bin"));
  EXPECT_FALSE(g.may_match_below("/usr/bin/ls"));
  EXPECT_FALSE(g.may_match_below("/usr/sbin"));
  EXPECT_FALSE(glob("/var").may_match_below("/var"));
  EXPECT_FALSE(glob("/").may_match_below("/"));
}

TEST(GlobMayMatchBelow, UnanchoredPatternMayMatchAnywhere)
{
  const auto g = glob("*.conf");
  EXPECT_TRUE(g.may_match_below("/"));
  EXPECT_TRUE(g.may_match_below("/usr/share/doc"));
  EXPECT_TRUE(g.may_match_below("/x.conf"));
}

TEST(GlobMayMatchBelow, WildcardComponents)
{
  const auto g = glob("/usr/lib*/python*/**");
  EXPECT_TRUE(g.may_match_below("/usr/lib64"));
  EXPECT_TRUE(g.may_match_below("/usr/lib64/python3"));
  EXPECT_FALSE(g.may_match_below("/usr/share"));
  EXPECT_FALSE(g.may_match_below("/usr/lib64/perl5"));
}

TEST(GlobMayMatchBelow, MiddleGlobstar)
{
  const auto g = glob("/usr/**/doc/*");
  EXPECT_TRUE(g.may_match_below("/usr/share/a/b"));
  EXPECT_TRUE(g.may_match_below("/usr/share/doc"));
  EXPECT_FALSE(g.may_match_below("/opt"));
}

// --- consistency -----------------------------------------------------------

// matches_all_below must never claim more than matches() delivers, and
// may_match_below must never deny a path that matches().
TEST(GlobConsistency, BelowQueriesAgreeWithMatches)
{
  const std::vector<std::string> names{"a", "b", "ab"};
  const std::vector<std::string> patterns{
    "/a",         "/a/**", "/**",      "**",  "a",        "a/**",    "/a/*",     "/*/**", "/**/b", "/a/**/b",
    "/a/**/b/**", "*b",    "/[ab]/**", "/a?", "/**/a/**", "/*/*/**", "/a/**/**", "b/*",   "/a/b",  "/**/*",
  };
  std::vector<std::string> dirs{"/"};
  pkgunify::test::paths_below("/", names, 2, dirs);

  for (const auto& pattern : patterns) {
    const auto g = glob(pattern);
    for (const auto& dir : dirs) {
      std::vector<std::string> below;
      pkgunify::test::paths_below(dir, names, 3, below);
      bool all = true;
      bool some = false;
      for (const auto& path : below) {
        const bool m = g.matches(path);
        all = all && m;
        some = some || m;
      }
      if (g.matches_all_below(dir)) {
        EXPECT_TRUE(all) << pattern << " below " << dir;
      }
      if (some) {
        EXPECT_TRUE(g.may_match_below(dir)) << pattern << " below " << dir;
      }
    }
  }
}
