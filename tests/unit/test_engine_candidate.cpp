// SPDX-License-Identifier: GPL-2.0-or-later
// engine/candidate.cpp: the one rule for what a scan (and status) may unify.
#include "engine/candidate.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

using namespace pkgunify;

namespace {

struct stat
regular(std::uint64_t size)
{
  struct stat st = {};
  st.st_mode = S_IFREG | 0644;
  st.st_size = static_cast<off_t>(size);
  return st;
}

}  // namespace

TEST(CandidateVerdict, KeysForWhatIsNoCandidate)
{
  const Policy p = default_policy();
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/tool", regular(4096)), std::nullopt);
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/tool", regular(0))->key, "empty");
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/tool", regular(p.min_size - 1))->key, "too-small");
  struct stat link = regular(10);
  link.st_mode = S_IFLNK | 0777;
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/sh", link)->key, "not-regular");
  EXPECT_EQ(candidate_verdict(p, nullptr, "/etc/passwd", regular(4096))->key, "excluded");
  PackageFilter filter;
  filter.config = {"/usr/lib/app.conf"};
  EXPECT_EQ(candidate_verdict(p, &filter, "/usr/lib/app.conf", regular(4096))->key, "config");
  filter.packaged = std::unordered_set<std::string>{"/usr/bin/owned"};
  EXPECT_EQ(candidate_verdict(p, &filter, "/usr/bin/stray", regular(4096))->key, "unpackaged");
  EXPECT_EQ(candidate_verdict(p, &filter, "/usr/bin/owned", regular(4096)), std::nullopt);
}

TEST(IdentityKindOf, ReflinkSharesContentOnly)
{
  Policy p = default_policy();
  EXPECT_EQ(identity_kind(p, LinkMode::hardlink), IdentityKind::full);
  EXPECT_EQ(identity_kind(p, LinkMode::reflink), IdentityKind::content_only);
  p.ignore_mtime = true;
  EXPECT_EQ(identity_kind(p, LinkMode::immutable), IdentityKind::ignore_mtime);
}

TEST(CandidateVerdict, MaxSizeKeepsLargerFilesOut)
{
  Policy p = default_policy();
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/lib/big", regular(std::uint64_t{1} << 40)), std::nullopt);
  p.max_size = 1 << 20;
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/lib/big", regular(1 << 20)), std::nullopt);
  const auto v = candidate_verdict(p, nullptr, "/usr/lib/big", regular((1 << 20) + 1));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->key, "too-large");
  EXPECT_EQ(v->detail, "larger than max_size 1048576");
}
