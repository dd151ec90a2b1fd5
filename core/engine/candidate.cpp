// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/candidate.hpp"

namespace pkgunify {

std::optional<Verdict>
candidate_verdict(const Policy& policy, const PackageFilter* filter, const std::string& path, const struct stat& st)
{
  if (!S_ISREG(st.st_mode)) {
    return Verdict{"not-regular", S_ISDIR(st.st_mode) ? "directory" : S_ISLNK(st.st_mode) ? "symlink" : "special file"};
  }
  if (filter && filter->config.contains(path)) {
    return Verdict{"config", "configuration file (" + filter->source + ")"};
  }
  if (auto why = policy.why_excluded(path)) {
    return Verdict{"excluded", *why};
  }
  if (st.st_size == 0) {
    return Verdict{"empty", "empty (no data to share)"};
  }
  if (static_cast<std::uint64_t>(st.st_size) < policy.min_size) {
    return Verdict{"too-small", "smaller than min_size " + std::to_string(policy.min_size)};
  }
  if (policy.max_size != 0 && static_cast<std::uint64_t>(st.st_size) > policy.max_size) {
    return Verdict{"too-large", "larger than max_size " + std::to_string(policy.max_size)};
  }
  if (filter && filter->packaged && !filter->packaged->contains(path)) {
    return Verdict{"unpackaged", "no installed package owns it (only_packaged)"};
  }
  return std::nullopt;
}

IdentityKind
identity_kind(const Policy& policy, LinkMode mode)
{
  if (mode == LinkMode::reflink) {
    return IdentityKind::content_only;
  }
  return policy.ignore_mtime ? IdentityKind::ignore_mtime : IdentityKind::full;
}

}  // namespace pkgunify
