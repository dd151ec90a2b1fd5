// SPDX-License-Identifier: GPL-2.0-or-later
// Package-manager knowledge as the engine uses it: which paths of a root are
// configuration files (never unified) and which belong to a package.
#pragma once

#include "engine/policy.hpp"
#include "pkgdb/packagedb.hpp"

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

namespace pkgunify {

struct PackageFilter
{
  std::string source;  // "rpm database /g/var/lib/rpm", for messages
  // Config files of installed packages (canonical paths inside the root).
  std::unordered_set<std::string> config;
  // With policy only_packaged: the files installed packages own.
  std::optional<std::unordered_set<std::string>> packaged;
};

// Resolves package paths inside a root the way the guest sees them: symlinked
// directories (usrmerge's /bin -> usr/bin) are followed, but only inside the
// root (openat2 RESOLVE_IN_ROOT); the last component is never followed.
class RootPaths
{
public:
  // Throws ConfigError when `root` is no directory.
  explicit RootPaths(const std::string& root);
  ~RootPaths();
  RootPaths(const RootPaths&) = delete;
  RootPaths& operator=(const RootPaths&) = delete;

  // "/bin/ls" -> "/usr/bin/ls" on a merged-usr root; nullopt when the
  // directory does not exist.
  std::optional<std::string> canonical(const std::string& path);

  // The root's real path on the host (no symlinks).
  [[nodiscard]] const std::string& real_root() const;

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

// What the filter keeps out besides config files: nothing else, or every
// file no installed package owns (policy only_packaged).
enum class Unpackaged { allowed, excluded };

inline Unpackaged
unpackaged_rule(bool only_packaged)
{
  return only_packaged ? Unpackaged::excluded : Unpackaged::allowed;
}

// Builds the filter for one root from its database (every installed
// package). Throws PackageDbError.
std::shared_ptr<const PackageFilter> make_package_filter(PackageDb& db, const std::string& root, Unpackaged rule);

// The same from a list of packages (for `pkg`: only the named ones).
std::shared_ptr<const PackageFilter> make_package_filter(const std::vector<PackageInfo>& packages, std::string source,
                                                         const std::string& root, Unpackaged rule);

}  // namespace pkgunify
