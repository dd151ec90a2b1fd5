// SPDX-License-Identifier: GPL-2.0-or-later
// What the package managers know about a root: which files each installed
// package owns, which of them are configuration files, and their digests.
// The core knows this interface only; the rpm (librpm) and dpkg (libapt-pkg)
// readers live in core/pkgdb/, so no rpm or dpkg type reaches the core.
//
// A guest controls its own database: its digests serve `verify` only and are
// never the identity of content (identity comes from hashing the bytes).
#pragma once

#include "sys/exceptions.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

// A missing, unreadable or corrupt package database. The message names the
// database file (and the line, for text databases). CLI exit status 2.
class PackageDbError : public ConfigError
{
public:
  using ConfigError::ConfigError;
};

enum class DigestAlgo { none, md5, sha1, sha256, sha384, sha512, sha224 };

std::string_view to_string(DigestAlgo algo);

struct PackageFile
{
  std::string path;     // absolute inside the root, as the database lists it
  bool config = false;  // rpm %config, dpkg conffile
  DigestAlgo digest_algo = DigestAlgo::none;
  std::string digest;  // lowercase hex; empty when the database has none
                       // (directories, symlinks, %ghost files)
};

struct PackageInfo
{
  std::string name;     // as the package manager names it ("bash", "libc6:amd64")
  std::string version;  // "5.2.15-2+b2", "1.0-1"
  std::string arch;
  std::vector<PackageFile> files;
};

// What a package file (.deb, .rpm) holds, read without installing it.
struct ArchiveEntry
{
  std::string path;        // absolute, "/usr/bin/x"; directories without a trailing '/'
  bool regular = false;    // a regular file (hard links to one included)
  std::uint64_t size = 0;  // bytes, for regular files
  std::uint32_t mode = 0;  // type and permission bits, as in st_mode
  bool config = false;     // rpm %config, or listed in a .deb's conffiles
};

struct ArchiveInfo
{
  std::string name;
  std::string version;
  std::string arch;
  std::vector<ArchiveEntry> entries;  // in archive order
};

// An installed package and a fingerprint that changes whenever its files may
// have changed (new version, reinstall), read without the file lists.
struct PackageStamp
{
  std::string name;
  std::string fingerprint;
};

class PackageDb
{
public:
  virtual ~PackageDb() = default;

  // "rpm" or "dpkg".
  [[nodiscard]] virtual std::string_view kind() const = 0;

  // Host path of the database (a directory or file), for messages.
  [[nodiscard]] virtual const std::string& location() const = 0;

  // Every installed package with its files. Throws PackageDbError.
  virtual std::vector<PackageInfo> packages() = 0;

  // Every installed package with its configuration files only (no digests
  // needed), for a scan's filter: as packages() says, read more cheaply
  // where the database allows (dpkg: its status and conffiles, not the file
  // lists). Throws PackageDbError.
  virtual std::vector<PackageInfo> config_files();

  // The named installed packages, in the order asked. Names that are not
  // installed are appended to `missing`. Throws PackageDbError.
  virtual std::vector<PackageInfo> packages(const std::vector<std::string>& names,
                                            std::vector<std::string>& missing) = 0;

  // Every installed package's stamp. Throws PackageDbError.
  virtual std::vector<PackageStamp> stamps() = 0;

  // Changes whenever the database changes (the stat of its main file): a
  // caller that saw the same marker before needs to read nothing.
  virtual std::string change_marker() = 0;
};

}  // namespace pkgunify
