// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/temp_name.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

using namespace pkgunify;

TEST(GuestTempName, PrefixRandomPartAndNameWithin255Bytes)
{
  const std::string a = guest_temp_name("libc.so.6");
  EXPECT_TRUE(a.starts_with(".#pku.")) << a;
  EXPECT_TRUE(a.ends_with(".libc.so.6")) << a;
  // 15 bytes more than the name: shorter than util-linux hardlink's 20, so a
  // directory block that hardlink fills without overflowing does not overflow.
  EXPECT_EQ(a.size(), 15u + 9u);
  EXPECT_NE(guest_temp_name("libc.so.6"), a);
  EXPECT_EQ(guest_temp_original(a), "libc.so.6");
  const std::string long_name(250, 'n');
  const std::string b = guest_temp_name(long_name);
  EXPECT_LE(b.size(), 255u);
  EXPECT_EQ(b.size(), k_guest_tmp_prefix.size() + 8);
  EXPECT_EQ(guest_temp_original(b), "");
  const std::string just_fits(255 - 15, 'f');
  EXPECT_EQ(guest_temp_name(just_fits).size(), 255u);
  EXPECT_EQ(guest_temp_original(guest_temp_name(just_fits)), just_fits);
}

TEST(GuestTempName, OriginalOfNewAndLegacyNamesOnly)
{
  EXPECT_EQ(guest_temp_original(".#pku.0123abcd.NAME"), "NAME");
  EXPECT_EQ(guest_temp_original(".#pku.0123abcd..hidden"), ".hidden");
  EXPECT_EQ(guest_temp_original(".#pku.0123abcd"), "");
  EXPECT_EQ(guest_temp_original(".#pkgunify.0123456789abcdef.NAME"), "NAME");
  EXPECT_EQ(guest_temp_original(".#pkgunify.0123456789abcdef"), "");
  // Anything else is a guest's own name, never a leftover.
  for (const char* other : {".#pku.0123ABCD.NAME", ".#pku.0123abc.NAME", ".#pku.0123abcdNAME", ".#pku.0123abcd.",
                            ".#pku.", ".#pkgunify.0123abcd.NAME", ".#pkgunify.", ".#NAME", "NAME", ""}) {
    EXPECT_EQ(guest_temp_original(other), std::nullopt) << other;
  }
}

TEST(GuestTempName, RandomPartIsEightLowercaseHexDigits)
{
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    const std::string t = guest_temp_name("f");
    ASSERT_EQ(t.size(), k_guest_tmp_prefix.size() + 8 + 2) << t;
    const std::string digits = t.substr(k_guest_tmp_prefix.size(), 8);
    EXPECT_EQ(digits.find_first_not_of("0123456789abcdef"), std::string::npos) << t;
    EXPECT_EQ(t[k_guest_tmp_prefix.size() + 8], '.') << t;
    seen.insert(digits);
  }
  EXPECT_GT(seen.size(), 1u);
}

TEST(GuestTempName, EveryNameThatFitsRoundTrips)
{
  for (const std::string name :
       {"a", ".hidden", "with space", "dots.in.name", ".#pku.0123abcd.nested", "\xc3\xa9t\xc3\xa9"}) {
    const std::string t = guest_temp_name(name);
    EXPECT_TRUE(t.starts_with(k_guest_tmp_prefix)) << t;
    EXPECT_EQ(guest_temp_original(t), name) << t;
  }
}

TEST(GuestTempName, TheNameIsLeftOutOneByteTooLong)
{
  const std::string too_long(255 - 15 + 1, 'f');
  const std::string t = guest_temp_name(too_long);
  EXPECT_EQ(t.size(), k_guest_tmp_prefix.size() + 8);
  EXPECT_EQ(guest_temp_original(t), "");
}
