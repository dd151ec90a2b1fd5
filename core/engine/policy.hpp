// SPDX-License-Identifier: GPL-2.0-or-later
// The unification policy: what is a candidate, where the store lives, how
// objects are created. Parsed from YAML (policies/default.yaml documents the
// format); see docs/policy.md.
#pragma once

#include "engine/glob.hpp"
#include "guest/link_mode.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

struct Policy
{
  std::string source = "<built-in>";  // file the policy came from
  std::optional<std::string> store;   // store directory, absolute
  std::uint64_t min_size = 16;
  std::uint64_t max_size = 0;  // larger files are never unified; 0: no limit
  bool ignore_mtime = false;
  CreateMode create = CreateMode::copy;
  // What the package-manager hooks use for files the package manager has
  // just written (no guest process holds those open for writing).
  CreateMode hook_create = CreateMode::adopt;
  LinkMode link = LinkMode::auto_select;
  LinkMode link_fallback = LinkMode::immutable;  // never auto_select or iunlink
  bool only_packaged = false;                    // unify only files that installed packages own
  // The roots' users are trusted not to write to shared files through an fd
  // held open: only then is link mode immutable allowed on XFS and btrfs,
  // where the flag does not stop such writes (docs/reliability.md).
  bool trusted_roots = false;
  std::vector<std::string> exclude;  // glob patterns (see glob.hpp)
  std::vector<std::string> include;  // override excludes, never /etc

  // Compiled patterns; filled by compile() (the loaders call it).
  std::vector<Glob> exclude_globs;
  std::vector<Glob> include_globs;

  // Compiles exclude/include; throws ConfigError naming the bad pattern.
  void compile();

  // `path` is absolute within the root ("/usr/bin/ls"). True when the policy
  // keeps the file out of unification. /etc and everything below it is always
  // excluded, whatever the patterns say.
  [[nodiscard]] bool excludes(std::string_view path) const;

  // Why excludes(path) is true: "/etc is always private" or "excluded by
  // '/var/**'"; nullopt when the policy admits the path.
  [[nodiscard]] std::optional<std::string> why_excluded(std::string_view path) const;

  // `dir` is absolute within the root ("/usr/share", "/" for the root). True
  // when no path strictly below `dir` can be a candidate, so a walk may skip
  // the whole subtree. Conservative: false when unsure.
  [[nodiscard]] bool prunes(std::string_view dir) const;
};

// The built-in default (identical to policies/default.yaml).
Policy default_policy();

// Parses YAML text. `source` names the file in error messages. Starts from
// the built-in defaults; keys present in the text replace them. Throws
// ConfigError with "source:line:column: message" for syntax errors, unknown
// keys, wrong types and bad values or patterns.
Policy parse_policy(std::string_view text, std::string_view source);

// Reads and parses a file; a missing or unreadable file is a ConfigError
// naming it.
Policy load_policy(const std::string& path);

}  // namespace pkgunify
