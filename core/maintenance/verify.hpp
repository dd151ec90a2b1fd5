// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify verify ROOT`: compares a root's unified files with the digests
// its package database records. A mismatch means the store object (shared by
// every guest linking to it) is corrupt or was changed.
#pragma once

#include "engine/scanner.hpp"
#include "pkgdb/packagedb.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <string>

namespace pkgunify {

struct VerifyResult
{
  std::uint64_t checked = 0;     // unified files whose digest was compared
  std::uint64_t mismatches = 0;  // each reported as an error
  std::uint64_t not_unified = 0;
  std::uint64_t config = 0;     // config files (never unified, not checked)
  std::uint64_t no_digest = 0;  // directories, symlinks, ghost files
  std::uint64_t missing = 0;    // listed by the database, not on disk
  std::uint64_t bytes_read = 0;
  std::uint64_t errors = 0;
};

VerifyResult verify_root(const Store& store, PackageDb& db, const std::string& root, Reporter& reporter);

// Hex digest of everything `fd` reads, with the database's algorithm.
sys::Result<std::string> file_digest(int fd, DigestAlgo algo, std::string_view display, std::uint64_t* bytes = nullptr);

}  // namespace pkgunify
