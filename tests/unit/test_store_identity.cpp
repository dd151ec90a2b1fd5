// SPDX-License-Identifier: GPL-2.0-or-later
#include "store/identity.hpp"

#include <gtest/gtest.h>

using pkgunify::FileMeta;
using pkgunify::IdentityHasher;
using pkgunify::IdentityKind;
using pkgunify::ObjectId;

namespace {

FileMeta
sample()
{
  FileMeta m;
  m.uid = 1000;
  m.gid = 100;
  m.mode = 04755;
  m.size = 5;
  m.mtime_sec = 1700000000;
  m.mtime_nsec = 123456789;
  m.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}, {"user.x", "v"}};
  return m;
}

std::string
to_hex(const std::string& bytes)
{
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

ObjectId
hash(const FileMeta& meta, IdentityKind kind, const std::string& content)
{
  IdentityHasher h;
  h.start(meta, kind);
  h.update(content.data(), content.size());
  return h.finish();
}

}  // namespace

// The encoding is specified byte by byte in docs/store-format.md; these
// vectors were computed independently (Python struct + hashlib).
TEST(Identity, HeaderEncodingIsBigEndianAndStable)
{
  EXPECT_EQ(to_hex(pkgunify::encode_identity_header(sample(), IdentityKind::full)),
            "706b67756e6966792d6f626a656374000101000009ed000003e8000000640000000000000005000000006553f100075bcd"
            "15000000020000001373656375726974792e6361706162696c69747900000004010000020000000675736572"
            "2e780000000176");
}

TEST(Identity, DigestOfKnownVector)
{
  EXPECT_EQ(hash(sample(), IdentityKind::full, "hello").hex(),
            "d35efc2d78339b5b6a0fa6619ca3e94f0757aa8991a83e98865c8db8ddcb8afa");
  EXPECT_EQ(hash(sample(), IdentityKind::content_only, "hello").hex(),
            "9f7f3e8afcbe3e87dc7550c37ae37eb40552a73e0f74bdd9c8598e94c4741257");
}

TEST(Identity, EveryMetadataFieldChangesTheId)
{
  const ObjectId base = hash(sample(), IdentityKind::full, "hello");
  auto differs = [&](auto mutate) {
    FileMeta m = sample();
    mutate(m);
    return !(hash(m, IdentityKind::full, "hello") == base);
  };
  EXPECT_TRUE(differs([](FileMeta& m) { m.uid = 1001; }));
  EXPECT_TRUE(differs([](FileMeta& m) { m.gid = 0; }));
  EXPECT_TRUE(differs([](FileMeta& m) { m.mode = 0755; }));
  EXPECT_TRUE(differs([](FileMeta& m) { m.mtime_sec += 1; }));
  EXPECT_TRUE(differs([](FileMeta& m) { m.mtime_nsec += 1; }));
  EXPECT_TRUE(differs([](FileMeta& m) { m.xattrs[1].second = "w"; }));
  EXPECT_TRUE(differs([](FileMeta& m) { m.xattrs.pop_back(); }));
  EXPECT_TRUE(differs([](FileMeta& m) { m.xattrs.emplace_back("user.y", ""); }));
  EXPECT_FALSE(hash(sample(), IdentityKind::full, "hellO") == base);
}

TEST(Identity, XattrBoundariesAreUnambiguous)
{
  // ("ab", "c") and ("a", "bc") must not collide.
  FileMeta a = sample();
  FileMeta b = sample();
  a.xattrs = {{"user.ab", "c"}};
  b.xattrs = {{"user.a", "bc"}};
  EXPECT_FALSE(hash(a, IdentityKind::full, "hello") == hash(b, IdentityKind::full, "hello"));
}

TEST(Identity, IgnoreMtimeKindIgnoresOnlyMtime)
{
  FileMeta a = sample();
  FileMeta b = sample();
  b.mtime_sec = 1;
  EXPECT_EQ(hash(a, IdentityKind::ignore_mtime, "hello"), hash(b, IdentityKind::ignore_mtime, "hello"));
  EXPECT_FALSE(hash(a, IdentityKind::full, "hello") == hash(b, IdentityKind::full, "hello"));
  b.uid = 0;
  EXPECT_FALSE(hash(a, IdentityKind::ignore_mtime, "hello") == hash(b, IdentityKind::ignore_mtime, "hello"));
  // Kinds never collide with each other.
  EXPECT_FALSE(hash(a, IdentityKind::ignore_mtime, "hello") == hash(a, IdentityKind::full, "hello"));
}

TEST(Identity, ContentOnlyKindIgnoresOwnerModeAndXattrs)
{
  FileMeta a = sample();
  FileMeta b;
  b.size = 5;
  EXPECT_EQ(hash(a, IdentityKind::content_only, "hello"), hash(b, IdentityKind::content_only, "hello"));
}

TEST(Identity, StreamingInPiecesEqualsOneUpdate)
{
  IdentityHasher h;
  h.start(sample(), IdentityKind::full);
  h.update("he", 2);
  h.update("llo", 3);
  EXPECT_EQ(h.finish(), hash(sample(), IdentityKind::full, "hello"));
}

TEST(Identity, FanoutIsFirstByte)
{
  const ObjectId id = hash(sample(), IdentityKind::full, "hello");
  EXPECT_EQ(id.fanout(), 0xd3u);
}
