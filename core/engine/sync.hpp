// SPDX-License-Identifier: GPL-2.0-or-later
// What `pkgunify sync` remembers about a root between package-manager runs,
// kept on the host (never inside a guest, which controls its own files):
// the database's change marker and every package's stamp. A sync whose
// marker is unchanged reads nothing else; otherwise it unifies exactly the
// packages whose stamp changed.
#pragma once

#include "pkgdb/packagedb.hpp"

#include <map>
#include <string>
#include <vector>

namespace pkgunify {

inline constexpr const char* k_default_sync_state_dir = "/var/lib/pkgunify/sync";

struct SyncState
{
  std::string root;
  std::string marker;
  std::map<std::string, std::string> stamps;  // package -> fingerprint

  // STATE_DIR/<first 32 hex digits of SHA-256(real path of root)>.state
  static std::string path_for(const std::string& state_dir, const std::string& real_root);

  // A missing file gives an empty state; a damaged one too (it is a cache:
  // the next sync simply looks at every package).
  static SyncState load(const std::string& path);

  // Atomically (temporary file, fsync, rename). Throws Error.
  void save(const std::string& path) const;

  // Packages whose stamp is new or different.
  [[nodiscard]] std::vector<std::string> changed(const std::vector<PackageStamp>& now) const;
};

}  // namespace pkgunify
