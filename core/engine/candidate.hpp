// SPDX-License-Identifier: GPL-2.0-or-later
// The one rule for what a scan may unify, used by the scan (engine) and by
// `status` (maintenance), so that both count the same candidates.
#pragma once

#include "engine/packages.hpp"
#include "engine/policy.hpp"
#include "store/identity.hpp"

#include <sys/stat.h>

#include <optional>
#include <string>

namespace pkgunify {

// Why a file is no candidate: `key` counts it in ScanStats::skipped
// ("not-regular", "empty", "too-small", "too-large", "config", "excluded",
// "unpackaged"),
// `detail` explains it to a person. nullopt: it is a candidate.
struct Verdict
{
  std::string key;
  std::string detail;
};
std::optional<Verdict> candidate_verdict(const Policy& policy, const PackageFilter* filter, const std::string& path,
                                         const struct stat& st);

// Identity kind the policy and link mode ask for.
IdentityKind identity_kind(const Policy& policy, LinkMode mode);

}  // namespace pkgunify
