// SPDX-License-Identifier: GPL-2.0-or-later
#include "store/sha256.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>

using namespace pkgunify;

namespace {

std::string
hex_of(const std::string& bytes)
{
  Sha256 h;
  h.update(bytes.data(), bytes.size());
  return to_hex(h.finish());
}

}  // namespace

// FIPS 180-2 test vectors.
TEST(Sha256, KnownVectors)
{
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_of(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PiecesEqualOneUpdate)
{
  Sha256 h;
  h.update("a", 1);
  h.update("", 0);
  h.update("bc", 2);
  EXPECT_EQ(to_hex(h.finish()), hex_of("abc"));
}

TEST(Sha256, FinishStartsAfresh)
{
  Sha256 h;
  h.update("abc", 3);
  (void)h.finish();
  h.update("abc", 3);
  EXPECT_EQ(to_hex(h.finish()), hex_of("abc"));
  EXPECT_EQ(to_hex(h.finish()), hex_of(""));
}

TEST(Sha256, ResetDropsWhatWasFed)
{
  Sha256 h;
  h.update("garbage", 7);
  h.reset();
  h.update("abc", 3);
  EXPECT_EQ(to_hex(h.finish()), hex_of("abc"));
}

TEST(Sha256, MoveKeepsTheState)
{
  Sha256 h;
  h.update("ab", 2);
  Sha256 moved(std::move(h));
  moved.update("c", 1);
  EXPECT_EQ(to_hex(moved.finish()), hex_of("abc"));
}

TEST(Sha256, HexRoundTrip)
{
  const std::string hex = hex_of("abc");
  Digest d{};
  ASSERT_TRUE(from_hex(hex, d));
  EXPECT_EQ(d[0], 0xbau);
  EXPECT_EQ(d[31], 0xadu);
  EXPECT_EQ(to_hex(d), hex);
}

TEST(Sha256, FromHexTakesExactly64LowercaseDigits)
{
  const std::string hex = hex_of("abc");
  Digest d{};
  EXPECT_FALSE(from_hex(hex.substr(0, 63), d));
  EXPECT_FALSE(from_hex(hex + "0", d));
  EXPECT_FALSE(from_hex("", d));
  std::string upper = hex;
  upper[0] = 'B';
  EXPECT_FALSE(from_hex(upper, d));
  std::string bad = hex;
  bad[63] = 'g';
  EXPECT_FALSE(from_hex(bad, d));
}
