// SPDX-License-Identifier: GPL-2.0-or-later
// What the hard-link strategy does when a guest's inode cannot be trusted:
// a checked copy instead of adoption, and quarantine of an object tampered
// with while its protection was lifted (issue #15, items 1 and 2).
#pragma once

#include "engine/internal/scan_context.hpp"
#include "guest/metadata.hpp"
#include "guest/protection.hpp"
#include "store/identity.hpp"
#include "store/store.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

#include <optional>
#include <string>
#include <vector>

namespace pkgunify::scan {

// Copies the open file `fd` to a new store temporary, with `meta`, and
// checks that the copy hashes to `id`: the temporary, or nullopt when the
// file no longer is what was hashed. Reads through `buffer`.
sys::Result<std::optional<sys::Fd>> copy_checked(const Store& store, int fd, const FileMeta& meta, IdentityKind kind,
                                                 const ObjectId& id, const std::string& display,
                                                 std::vector<char>& buffer);

// A process (a guest's) opened the object for writing, or changed its
// metadata for good, while its protection was lifted to link `c`: its store
// name moves to quarantine (its protection lifted by the caller), so that
// nothing more is linked to it. Returns the error to report: what happened,
// where it went, how many guest names it has and some of them.
std::string quarantine_tampered(const Context& ctx, const Candidate& c, const Prepared& p, unsigned successor,
                                const std::string& detail);

enum class Restored { clean, tainted };

// Restores the protection `guard` lifted to link `c` to the object (p.id,
// successor) and reports what the window saw: changes put back (a warning),
// a tainted object (quarantined, an error), a failure (an error).
Restored restore_checked(const Context& ctx, ProtectionGuard& guard, const Candidate& c, const Prepared& p,
                         unsigned successor);

}  // namespace pkgunify::scan
