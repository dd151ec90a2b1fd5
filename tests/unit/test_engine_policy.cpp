// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/policy.hpp"
#include "sys/exceptions.hpp"

#include "testutil.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

using pkgunify::ConfigError;
using pkgunify::CreateMode;
using pkgunify::default_policy;
using pkgunify::load_policy;
using pkgunify::parse_policy;
using pkgunify::Policy;

namespace {

Policy
parse(std::string_view text)
{
  return parse_policy(text, "p.yaml");
}

// The ConfigError message parsing `text` gives, or "(no error)".
std::string
parse_error(std::string_view text)
{
  try {
    parse_policy(text, "p.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string
load_error(const std::string& path)
{
  try {
    load_policy(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<std::string>
glob_patterns(const std::vector<pkgunify::Glob>& globs)
{
  std::vector<std::string> result;
  for (const auto& glob : globs) {
    result.push_back(glob.pattern());
  }
  return result;
}

void
expect_same_settings(const Policy& a, const Policy& b)
{
  EXPECT_EQ(a.store, b.store);
  EXPECT_EQ(a.min_size, b.min_size);
  EXPECT_EQ(a.max_size, b.max_size);
  EXPECT_EQ(a.ignore_mtime, b.ignore_mtime);
  EXPECT_EQ(a.create, b.create);
  EXPECT_EQ(a.exclude, b.exclude);
  EXPECT_EQ(a.include, b.include);
  EXPECT_EQ(glob_patterns(a.exclude_globs), glob_patterns(b.exclude_globs));
  EXPECT_EQ(glob_patterns(a.include_globs), glob_patterns(b.include_globs));
}

// A file in the test's temporary directory, removed at the end of the test.
class TempFile
{
public:
  TempFile(std::string_view name, std::string_view content)
    : m_path(::testing::TempDir() + "pkgunify-" + std::to_string(::getpid()) + "-" + std::string(name))
  {
    std::ofstream out(m_path, std::ios::binary);
    out << content;
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { std::remove(m_path.c_str()); }

  [[nodiscard]] const std::string&
  path() const
  {
    return m_path;
  }

private:
  std::string m_path;
};

const std::vector<std::string> k_default_exclude{
  "/etc/**", "/var/**", "/home/**", "/root/**", "/tmp/**", "/run/**", "/boot/**",
};

}  // namespace

// --- defaults --------------------------------------------------------------

TEST(PolicyDefault, Values)
{
  const Policy policy = default_policy();
  EXPECT_EQ(policy.source, "<built-in>");
  EXPECT_FALSE(policy.store.has_value());
  EXPECT_EQ(policy.min_size, 16U);
  EXPECT_FALSE(policy.ignore_mtime);
  EXPECT_EQ(policy.create, CreateMode::copy);
  EXPECT_EQ(policy.exclude, k_default_exclude);
  EXPECT_TRUE(policy.include.empty());
}

TEST(PolicyDefault, IsCompiled)
{
  const Policy policy = default_policy();
  EXPECT_EQ(glob_patterns(policy.exclude_globs), k_default_exclude);
  EXPECT_TRUE(policy.include_globs.empty());
  EXPECT_TRUE(policy.excludes("/var/lib/dpkg/status"));
}

TEST(PolicyDefault, ShippedFileEqualsBuiltIn)
{
  const std::string path = PKGUNIFY_SOURCE_DIR "/policies/default.yaml";
  const Policy policy = load_policy(path);
  EXPECT_EQ(policy.source, path);
  expect_same_settings(policy, default_policy());
}

TEST(PolicyDefault, EmptyTextGivesDefaults)
{
  const Policy policy = parse("");
  EXPECT_EQ(policy.source, "p.yaml");
  expect_same_settings(policy, default_policy());
}

TEST(PolicyDefault, CommentsOnlyGiveDefaults)
{
  expect_same_settings(parse("# nothing here\n\n   # really\n"), default_policy());
}

TEST(PolicyDefault, ExplicitNullDocumentGivesDefaults)
{
  expect_same_settings(parse("---\n"), default_policy());
  expect_same_settings(parse("~\n"), default_policy());
}

TEST(PolicyDefault, AbsentKeysKeepDefaults)
{
  const Policy policy = parse("min_size: 100\n");
  EXPECT_EQ(policy.min_size, 100U);
  EXPECT_EQ(policy.exclude, k_default_exclude);
  EXPECT_EQ(policy.create, CreateMode::copy);
  EXPECT_FALSE(policy.store.has_value());
}

TEST(PolicyDefault, MaxSizeIsNoLimitUnlessSet)
{
  EXPECT_EQ(default_policy().max_size, 0U);
  EXPECT_EQ(parse("max_size: 1048576\n").max_size, 1048576U);
  try {
    parse("max_size: -1\n");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("max_size"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("a non-negative integer"), std::string::npos) << e.what();
  }
}

TEST(Policy, ToString)
{
  EXPECT_EQ(pkgunify::to_string(CreateMode::copy), "copy");
  EXPECT_EQ(pkgunify::to_string(CreateMode::adopt), "adopt");
}

// --- keys ------------------------------------------------------------------

TEST(PolicyKeys, AllKeys)
{
  const Policy policy = parse("store: /vservers/.hash\n"
                              "min_size: 0\n"
                              "ignore_mtime: true\n"
                              "create: adopt\n"
                              "exclude: [\"/var/**\", '*.pyc']\n"
                              "include:\n"
                              "  - /var/lib/apt/**\n");
  EXPECT_EQ(policy.store, "/vservers/.hash");
  EXPECT_EQ(policy.min_size, 0U);
  EXPECT_TRUE(policy.ignore_mtime);
  EXPECT_EQ(policy.create, CreateMode::adopt);
  EXPECT_EQ(policy.exclude, (std::vector<std::string>{"/var/**", "*.pyc"}));
  EXPECT_EQ(policy.include, (std::vector<std::string>{"/var/lib/apt/**"}));
  EXPECT_EQ(glob_patterns(policy.exclude_globs), policy.exclude);
  EXPECT_EQ(glob_patterns(policy.include_globs), policy.include);
}

TEST(PolicyKeys, StoreMayBeQuoted)
{
  EXPECT_EQ(parse("store: \"/srv/my store\"\n").store, "/srv/my store");
}

TEST(PolicyKeys, MinSizeLimits)
{
  EXPECT_EQ(parse("min_size: 9223372036854775807\n").min_size, 9223372036854775807U);
  EXPECT_EQ(parse("min_size: 0016\n").min_size, 16U);
}

TEST(PolicyKeys, IgnoreMtimeAcceptsYamlBooleans)
{
  for (const char* yes : {"true", "True", "yes", "on", "y"}) {
    EXPECT_TRUE(parse(std::string("ignore_mtime: ") + yes + "\n").ignore_mtime) << yes;
  }
  for (const char* no : {"false", "FALSE", "no", "off", "n"}) {
    EXPECT_FALSE(parse(std::string("ignore_mtime: ") + no + "\n").ignore_mtime) << no;
  }
}

TEST(PolicyKeys, CreateCopy)
{
  EXPECT_EQ(parse("create: adopt\n").create, CreateMode::adopt);
  EXPECT_EQ(parse("create: copy\n").create, CreateMode::copy);
}

TEST(PolicyKeys, ExcludeReplacesDefaultList)
{
  const Policy policy = parse("exclude: [\"/opt/**\"]\n");
  EXPECT_EQ(policy.exclude, (std::vector<std::string>{"/opt/**"}));
  EXPECT_FALSE(policy.excludes("/var/lib/x"));
  EXPECT_TRUE(policy.excludes("/opt/x"));
}

TEST(PolicyKeys, EmptyExcludeList)
{
  const Policy policy = parse("exclude: []\n");
  EXPECT_TRUE(policy.exclude.empty());
  EXPECT_TRUE(policy.exclude_globs.empty());
  EXPECT_FALSE(policy.excludes("/var/lib/x"));
}

TEST(PolicyKeys, SourceNamesTheFile)
{
  EXPECT_EQ(parse_policy("min_size: 1\n", "/x/y.yaml").source, "/x/y.yaml");
}

// --- errors: structure -----------------------------------------------------

TEST(PolicyErrors, UnknownKey)
{
  try {
    parse_policy("min_size: 1\ncreate: copy\nmin_sise: 5\n", "/etc/pkgunify.yaml");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "/etc/pkgunify.yaml:3:1: unknown key 'min_sise'");
  }
}

TEST(PolicyErrors, UnknownKeyIndentedInFlowMapping)
{
  EXPECT_EQ(parse_error("{min_size: 1, colour: red}\n"), "p.yaml:1:15: unknown key 'colour'");
}

TEST(PolicyErrors, DuplicateKey)
{
  EXPECT_EQ(parse_error("min_size: 1\ncreate: copy\nmin_size: 2\n"),
            "p.yaml:3:1: duplicate key 'min_size' (first on line 1)");
}

TEST(PolicyErrors, NonScalarKey)
{
  EXPECT_EQ(parse_error("? [a, b]\n: 1\n"), "p.yaml:1:3: expected a key name, got a sequence");
}

TEST(PolicyErrors, TopLevelSequence)
{
  EXPECT_EQ(parse_error("- min_size\n"), "p.yaml:1:1: expected a mapping of keys, got a sequence");
}

TEST(PolicyErrors, TopLevelScalar)
{
  EXPECT_EQ(parse_error("\nhello\n"), "p.yaml:2:1: expected a mapping of keys, got 'hello'");
}

TEST(PolicyErrors, SeveralDocuments)
{
  EXPECT_EQ(parse_error("min_size: 1\n---\nmin_size: 2\n"), "p.yaml:3:1: expected a single YAML document");
}

// yaml-cpp 0.7's LoadAll never returns on a stray comma (endless empty
// documents, growing memory): found by fuzz_policy. A clear error instead.
TEST(PolicyErrors, StrayCommaIsAnErrorNotAnEndlessLoop)
{
  for (const char* text : {",", ",\n", "min_size: 1\n,\n", ",,,,]\n"}) {
    const std::string error = parse_error(text);
    EXPECT_EQ(error.rfind("p.yaml:", 0), 0u) << text << " -> " << error;
    EXPECT_NE(error, "(no error)") << text;
  }
}

TEST(PolicyErrors, YamlSyntaxUnterminatedFlowSequence)
{
  EXPECT_EQ(parse_error("min_size: 1\nexclude: [\"/a\"\n"), "p.yaml:3:1: end of sequence flow not found");
}

TEST(PolicyErrors, YamlSyntaxIllegalMapValue)
{
  EXPECT_EQ(parse_error("create: copy: adopt\n"), "p.yaml:1:13: illegal map value");
}

TEST(PolicyErrors, YamlSyntaxUndefinedAlias)
{
  EXPECT_EQ(parse_error("min_size: 1\ncreate: *mode\n"), "p.yaml:2:9: the referenced anchor is not defined");
}

// --- errors: store ---------------------------------------------------------

TEST(PolicyErrors, StoreRelative)
{
  EXPECT_EQ(parse_error("store: hash\n"), "p.yaml:1:8: store: expected an absolute path, got 'hash'");
}

TEST(PolicyErrors, StoreEmptyString)
{
  EXPECT_EQ(parse_error("store: \"\"\n"), "p.yaml:1:8: store: expected an absolute path, got the quoted "
                                          "string ''");
}

TEST(PolicyErrors, StoreMissingValue)
{
  EXPECT_EQ(parse_error("min_size: 1\nstore:\n"), "p.yaml:2:1: store: expected an absolute path, got an empty value");
}

TEST(PolicyErrors, StoreSequence)
{
  EXPECT_EQ(parse_error("store: [/a]\n"), "p.yaml:1:8: store: expected an absolute path, got a sequence");
}

// --- errors: min_size ------------------------------------------------------

TEST(PolicyErrors, MinSizeNotANumber)
{
  EXPECT_EQ(parse_error("create: copy\nmin_size: abc\n"),
            "p.yaml:2:11: min_size: expected a non-negative integer, got 'abc'");
}

TEST(PolicyErrors, MinSizeNegative)
{
  EXPECT_EQ(parse_error("min_size: -1\n"), "p.yaml:1:11: min_size: expected a non-negative integer, got '-1'");
}

TEST(PolicyErrors, MinSizeFloat)
{
  EXPECT_EQ(parse_error("min_size: 1.5\n"), "p.yaml:1:11: min_size: expected a non-negative integer, got '1.5'");
  EXPECT_EQ(parse_error("min_size: 1e3\n"), "p.yaml:1:11: min_size: expected a non-negative integer, got '1e3'");
}

TEST(PolicyErrors, MinSizeSigned)
{
  EXPECT_EQ(parse_error("min_size: +16\n"), "p.yaml:1:11: min_size: expected a non-negative integer, got '+16'");
}

TEST(PolicyErrors, MinSizeQuoted)
{
  EXPECT_EQ(parse_error("min_size: \"16\"\n"), "p.yaml:1:11: min_size: expected a non-negative integer, got the "
                                               "quoted string '16'");
}

TEST(PolicyErrors, MinSizeTooLarge)
{
  EXPECT_EQ(parse_error("min_size: 9223372036854775808\n"),
            "p.yaml:1:11: min_size: value '9223372036854775808' is too large "
            "(maximum 9223372036854775807)");
  EXPECT_EQ(parse_error("min_size: 99999999999999999999999\n"),
            "p.yaml:1:11: min_size: value '99999999999999999999999' is too "
            "large (maximum 9223372036854775807)");
}

TEST(PolicyErrors, MinSizeEmpty)
{
  EXPECT_EQ(parse_error("min_size:\n"), "p.yaml:1:1: min_size: expected a non-negative integer, got an "
                                        "empty value");
  EXPECT_EQ(parse_error("min_size: ~\n"), "p.yaml:1:1: min_size: expected a non-negative integer, got an "
                                          "empty value");
}

TEST(PolicyErrors, MinSizeMapping)
{
  EXPECT_EQ(parse_error("min_size: {a: 1}\n"), "p.yaml:1:11: min_size: expected a non-negative integer, got a "
                                               "mapping");
}

// --- errors: ignore_mtime and create ---------------------------------------

TEST(PolicyErrors, IgnoreMtimeNotABoolean)
{
  EXPECT_EQ(parse_error("ignore_mtime: maybe\n"), "p.yaml:1:15: ignore_mtime: expected true or false, got 'maybe'");
  EXPECT_EQ(parse_error("ignore_mtime: 1\n"), "p.yaml:1:15: ignore_mtime: expected true or false, got '1'");
}

TEST(PolicyErrors, IgnoreMtimeQuoted)
{
  EXPECT_EQ(parse_error("ignore_mtime: 'true'\n"), "p.yaml:1:15: ignore_mtime: expected true or false, got the quoted "
                                                   "string 'true'");
}

TEST(PolicyErrors, CreateUnknownMode)
{
  EXPECT_EQ(parse_error("create: link\n"), "p.yaml:1:9: create: expected 'copy' or 'adopt', got 'link'");
}

TEST(PolicyErrors, CreateSequence)
{
  EXPECT_EQ(parse_error("create: [copy]\n"), "p.yaml:1:9: create: expected 'copy' or 'adopt', got a sequence");
}

// --- errors: exclude and include -------------------------------------------

TEST(PolicyErrors, ExcludeSingleString)
{
  EXPECT_EQ(parse_error("exclude: /var/**\n"), "p.yaml:1:10: exclude: expected a sequence of patterns, got "
                                               "'/var/**'");
}

TEST(PolicyErrors, IncludeMapping)
{
  EXPECT_EQ(parse_error("include:\n  a: b\n"), "p.yaml:2:3: include: expected a sequence of patterns, got a "
                                               "mapping");
}

TEST(PolicyErrors, ExcludeEmptyValue)
{
  EXPECT_EQ(parse_error("exclude:\n"), "p.yaml:1:1: exclude: expected a sequence of patterns, got an "
                                       "empty value");
}

TEST(PolicyErrors, ExcludeElementNotAString)
{
  EXPECT_EQ(parse_error("exclude:\n  - /var/**\n  - [a, b]\n"),
            "p.yaml:3:5: exclude: expected a pattern, got a sequence");
}

TEST(PolicyErrors, BadPatternInFlowSequence)
{
  EXPECT_EQ(parse_error("min_size: 1\nexclude: [\"/var/**\", \"/usr/[a-\"]\n"),
            "p.yaml:2:22: exclude: bad pattern \"/usr/[a-\": unterminated "
            "character class");
}

TEST(PolicyErrors, BadPatternInBlockSequence)
{
  EXPECT_EQ(parse_error("include:\n  - /usr/**\n  - /usr//lib\n"),
            "p.yaml:3:5: include: bad pattern \"/usr//lib\": empty path "
            "component (\"//\")");
}

TEST(PolicyErrors, FirstErrorWins)
{
  EXPECT_EQ(parse_error("min_size: x\ncreate: y\n"), "p.yaml:1:11: min_size: expected a non-negative integer, got 'x'");
}

// --- compile ---------------------------------------------------------------

TEST(PolicyCompile, FillsGlobs)
{
  Policy policy;
  policy.exclude = {"/a/**"};
  policy.include = {"/a/b/**"};
  policy.compile();
  EXPECT_EQ(glob_patterns(policy.exclude_globs), (std::vector<std::string>{"/a/**"}));
  EXPECT_EQ(glob_patterns(policy.include_globs), (std::vector<std::string>{"/a/b/**"}));
  EXPECT_TRUE(policy.excludes("/a/x"));
  EXPECT_FALSE(policy.excludes("/a/b/x"));
}

TEST(PolicyCompile, RecompileReplacesGlobs)
{
  Policy policy = default_policy();
  policy.exclude = {"/opt/**"};
  policy.compile();
  EXPECT_EQ(glob_patterns(policy.exclude_globs), (std::vector<std::string>{"/opt/**"}));
}

TEST(PolicyCompile, BadPatternThrowsNamingIt)
{
  Policy policy;
  policy.include = {"/ok/**", "/x["};
  try {
    policy.compile();
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "<built-in>: include: bad pattern \"/x[\": unterminated "
                           "character class");
  }
}

// --- excludes --------------------------------------------------------------

TEST(PolicyExcludes, DefaultPolicy)
{
  const Policy policy = default_policy();
  EXPECT_FALSE(policy.excludes("/usr/bin/ls"));
  EXPECT_FALSE(policy.excludes("/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(policy.excludes("/var/lib/dpkg/status"));
  EXPECT_TRUE(policy.excludes("/home/user/.bashrc"));
  EXPECT_TRUE(policy.excludes("/root/.profile"));
  EXPECT_TRUE(policy.excludes("/tmp/x"));
  EXPECT_TRUE(policy.excludes("/run/x"));
  EXPECT_TRUE(policy.excludes("/boot/vmlinuz"));
  EXPECT_FALSE(policy.excludes("/variable/x"));
}

TEST(PolicyExcludes, EtcAlwaysExcluded)
{
  const Policy policy = parse("exclude: []\n");
  EXPECT_TRUE(policy.excludes("/etc"));
  EXPECT_TRUE(policy.excludes("/etc/passwd"));
  EXPECT_TRUE(policy.excludes("/etc/ssh/sshd_config"));
  EXPECT_TRUE(policy.excludes("//etc/passwd"));
  EXPECT_FALSE(policy.excludes("/etcetera/x"));
  EXPECT_FALSE(policy.excludes("/usr/etc/x"));
}

TEST(PolicyExcludes, EtcExcludedEvenWithInclude)
{
  const Policy policy = parse("include: [\"/etc/**\", \"*.conf\", \"/**\"]\n");
  EXPECT_EQ(policy.include.size(), 3U);
  EXPECT_TRUE(policy.excludes("/etc/passwd"));
  EXPECT_TRUE(policy.excludes("/etc/x.conf"));
  EXPECT_TRUE(policy.excludes("/etc"));
  EXPECT_FALSE(policy.excludes("/var/x.conf"));
}

TEST(PolicyExcludes, IncludeOverridesExclude)
{
  const Policy policy = parse("exclude: [\"/usr/share/**\"]\n"
                              "include: [\"/usr/share/doc/**\"]\n");
  EXPECT_TRUE(policy.excludes("/usr/share/man/man1/ls.1.gz"));
  EXPECT_FALSE(policy.excludes("/usr/share/doc/bash/README"));
  EXPECT_FALSE(policy.excludes("/usr/bin/ls"));
}

TEST(PolicyExcludes, IncludeAloneDoesNotExclude)
{
  const Policy policy = parse("exclude: []\ninclude: [\"/usr/**\"]\n");
  EXPECT_FALSE(policy.excludes("/usr/bin/ls"));
  EXPECT_FALSE(policy.excludes("/opt/x"));
}

TEST(PolicyExcludes, DirectoryItselfNotMatchedByTrailingGlobstar)
{
  EXPECT_FALSE(default_policy().excludes("/var"));
  EXPECT_TRUE(default_policy().excludes("/var/x"));
}

TEST(PolicyExcludes, UnanchoredExclude)
{
  const Policy policy = parse("exclude: [\"*.pyc\"]\n");
  EXPECT_TRUE(policy.excludes("/usr/lib/python3/x.pyc"));
  EXPECT_FALSE(policy.excludes("/usr/lib/python3/x.py"));
}

// --- prunes ----------------------------------------------------------------

TEST(PolicyPrunes, EtcAlwaysPruned)
{
  const Policy policy = parse("exclude: []\ninclude: [\"/etc/**\"]\n");
  EXPECT_TRUE(policy.prunes("/etc"));
  EXPECT_TRUE(policy.prunes("/etc/ssh"));
  EXPECT_FALSE(policy.prunes("/"));
  EXPECT_FALSE(policy.prunes("/etcetera"));
}

TEST(PolicyPrunes, DefaultPolicy)
{
  const Policy policy = default_policy();
  EXPECT_TRUE(policy.prunes("/var"));
  EXPECT_TRUE(policy.prunes("/var/lib"));
  EXPECT_TRUE(policy.prunes("/home"));
  EXPECT_TRUE(policy.prunes("/boot"));
  EXPECT_FALSE(policy.prunes("/"));
  EXPECT_FALSE(policy.prunes("/usr"));
  EXPECT_FALSE(policy.prunes("/usr/lib"));
}

TEST(PolicyPrunes, IncludeBelowPreventsPruning)
{
  const Policy policy = parse("exclude: [\"/usr/share/**\"]\n"
                              "include: [\"/usr/share/doc/**\"]\n");
  EXPECT_FALSE(policy.prunes("/usr/share"));
  EXPECT_FALSE(policy.prunes("/usr/share/doc"));
  EXPECT_FALSE(policy.prunes("/usr/share/doc/bash"));
  EXPECT_TRUE(policy.prunes("/usr/share/man"));
  EXPECT_TRUE(policy.prunes("/usr/share/docs"));
}

TEST(PolicyPrunes, UnanchoredIncludePreventsAllPruning)
{
  const Policy policy = parse("include: [\"*.so\"]\n");
  EXPECT_FALSE(policy.prunes("/var"));
  EXPECT_FALSE(policy.prunes("/home/user"));
  EXPECT_TRUE(policy.prunes("/etc"));
}

TEST(PolicyPrunes, ExcludedPathWithoutGlobstarDoesNotPrune)
{
  // "/var" excludes that one path; files below it remain candidates.
  const Policy policy = parse("exclude: [\"/var\"]\n");
  EXPECT_TRUE(policy.excludes("/var"));
  EXPECT_FALSE(policy.excludes("/var/x"));
  EXPECT_FALSE(policy.prunes("/var"));
}

TEST(PolicyPrunes, FilteringExcludeDoesNotPrune)
{
  const Policy policy = parse("exclude: [\"/usr/**/*.pyc\"]\n");
  EXPECT_FALSE(policy.prunes("/usr"));
  EXPECT_FALSE(policy.prunes("/usr/lib"));
}

TEST(PolicyPrunes, UnanchoredExcludePrunesMatchingDirectories)
{
  const Policy policy = parse("exclude: [\"__pycache__/**\"]\n");
  EXPECT_TRUE(policy.prunes("/usr/lib/python3/__pycache__"));
  EXPECT_FALSE(policy.prunes("/usr/lib/python3"));
}

TEST(PolicyPrunes, ExcludeEverything)
{
  const Policy policy = parse("exclude: [\"/**\"]\n");
  EXPECT_TRUE(policy.prunes("/"));
  EXPECT_TRUE(policy.prunes("/usr"));
}

// Pruning must never hide a path that excludes() would accept.
TEST(PolicyPrunes, NeverHidesCandidates)
{
  const std::vector<std::string> policies{
    "",
    "exclude: [\"/**\"]\ninclude: [\"/usr/doc/**\"]\n",
    "exclude: [\"/usr/**\", \"/var\"]\ninclude: [\"*.so\"]\n",
    "exclude: [\"usr/**\"]\ninclude: [\"/usr/usr/*\"]\n",
    "exclude: [\"/*/**\"]\ninclude: [\"/etc/**\", \"/var/doc\"]\n",
  };
  const std::vector<std::string> names{"etc", "usr", "var", "doc", "x.so"};
  std::vector<std::string> dirs{"/"};
  pkgunify::test::paths_below("/", names, 2, dirs);

  for (const auto& text : policies) {
    const Policy policy = parse(text);
    for (const auto& dir : dirs) {
      if (!policy.prunes(dir)) {
        continue;
      }
      std::vector<std::string> below;
      pkgunify::test::paths_below(dir, names, 3, below);
      for (const auto& path : below) {
        EXPECT_TRUE(policy.excludes(path)) << "policy:\n" << text << "prunes " << dir << " but keeps " << path;
      }
    }
  }
}

// --- load_policy -----------------------------------------------------------

TEST(PolicyLoad, ReadsFile)
{
  const TempFile file("ok.yaml", "min_size: 4096\ncreate: adopt\n");
  const Policy policy = load_policy(file.path());
  EXPECT_EQ(policy.source, file.path());
  EXPECT_EQ(policy.min_size, 4096U);
  EXPECT_EQ(policy.create, CreateMode::adopt);
}

TEST(PolicyLoad, ErrorsNameTheFile)
{
  const TempFile file("bad.yaml", "min_size: 1\nbogus: 2\n");
  EXPECT_EQ(load_error(file.path()), file.path() + ":2:1: unknown key 'bogus'");
}

TEST(PolicyLoad, MissingFile)
{
  const std::string path = ::testing::TempDir() + "pkgunify-no-such-file.yaml";
  EXPECT_EQ(load_error(path), path + ": cannot read policy: No such file or directory");
}

TEST(PolicyLoad, Directory)
{
  const std::string path = PKGUNIFY_SOURCE_DIR "/policies";
  EXPECT_EQ(load_error(path), path + ": cannot read policy: Is a directory");
}

TEST(PolicyLinkModes, DefaultsAreAutoWithImmutableFallback)
{
  const Policy p = pkgunify::default_policy();
  EXPECT_EQ(p.link, pkgunify::LinkMode::auto_select);
  EXPECT_EQ(p.link_fallback, pkgunify::LinkMode::immutable);
  EXPECT_FALSE(p.only_packaged);
  EXPECT_EQ(p.hook_create, pkgunify::CreateMode::adopt);
}

TEST(PolicyLinkModes, EveryModeParses)
{
  for (const char* mode : {"auto", "iunlink", "immutable", "reflink", "hardlink"}) {
    const Policy p = parse_policy(std::string("link: ") + mode + "\n", "p.yaml");
    EXPECT_EQ(pkgunify::to_string(p.link), mode);
  }
  EXPECT_EQ(parse_policy("link_fallback: reflink\n", "p.yaml").link_fallback, pkgunify::LinkMode::reflink);
}

TEST(PolicyLinkModes, BadValuesNameFileAndLine)
{
  EXPECT_EQ(parse_error("min_size: 1\nlink: magic\n"),
            "p.yaml:2:7: link: expected 'auto', 'iunlink', 'immutable', 'reflink' or 'hardlink', got 'magic'");
  // auto and iunlink make no sense as what auto falls back to.
  EXPECT_NE(parse_error("link_fallback: auto\n").find("p.yaml:1:"), std::string::npos);
  EXPECT_NE(parse_error("link_fallback: iunlink\n").find("expected 'immutable', 'reflink' or 'hardlink'"),
            std::string::npos);
}

TEST(PolicyPackages, OnlyPackagedAndHookCreate)
{
  const Policy p = parse_policy("only_packaged: true\nhook_create: copy\n", "p.yaml");
  EXPECT_TRUE(p.only_packaged);
  EXPECT_EQ(p.hook_create, pkgunify::CreateMode::copy);
  EXPECT_NE(parse_error("only_packaged: maybe\n").find("p.yaml:1:"), std::string::npos);
  EXPECT_NE(parse_error("hook_create: move\n").find("p.yaml:1:14: hook_create: expected 'copy' or 'adopt'"),
            std::string::npos)
    << parse_error("hook_create: move\n");
}

TEST(PolicyExplain, WhyExcludedNamesThePattern)
{
  const Policy p = pkgunify::default_policy();
  EXPECT_EQ(p.why_excluded("/etc/passwd"), "/etc is always private");
  EXPECT_EQ(p.why_excluded("/var/lib/x"), "excluded by '/var/**'");
  EXPECT_FALSE(p.why_excluded("/usr/bin/ls").has_value());
  const Policy q = parse_policy("include: [\"/var/lib/shared/**\"]\n", "p.yaml");
  EXPECT_FALSE(q.why_excluded("/var/lib/shared/a").has_value());
}
