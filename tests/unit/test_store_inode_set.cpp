// SPDX-License-Identifier: GPL-2.0-or-later
#include "store/inode_set.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>

using namespace pkgunify;

TEST(InodeSet, AnEmptySetHoldsNothing)
{
  const InodeSet set = InodeSet::Builder().finish();
  EXPECT_EQ(set.size(), 0u);
  EXPECT_FALSE(set.contains(0));
  EXPECT_FALSE(set.contains(12));
}

// ext4's dense 32-bit numbers and XFS's sparse 64-bit ones, in any order,
// with duplicates: the set holds exactly the numbers added.
TEST(InodeSet, HoldsExactlyWhatWasAddedDenseOrSparse)
{
  std::mt19937_64 rng(7);
  std::set<std::uint64_t> expected;
  InodeSet::Builder b;
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t dense = 11 + rng() % 300000;
    const std::uint64_t sparse = rng() | (std::uint64_t{1} << 40);
    for (const std::uint64_t n : {dense, sparse, dense}) {
      b.add(static_cast<ino_t>(n));
      expected.insert(n);
    }
  }
  b.add(static_cast<ino_t>(UINT64_MAX));
  expected.insert(UINT64_MAX);
  const InodeSet set = b.finish();
  EXPECT_EQ(set.size(), expected.size());
  for (const std::uint64_t n : expected) {
    ASSERT_TRUE(set.contains(static_cast<ino_t>(n))) << n;
  }
  std::size_t absent = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t n = i % 2 ? 11 + rng() % 300000 : rng();
    if (!expected.contains(n)) {
      ++absent;
      ASSERT_FALSE(set.contains(static_cast<ino_t>(n))) << n;
    }
  }
  EXPECT_GT(absent, 0u);
}

// About two bytes a number where they are dense (one store's objects on
// ext4): a million objects in a few MB, not the 40 a hash set takes.
TEST(InodeSet, DenseNumbersTakeAboutTwoBytesEach)
{
  InodeSet::Builder b;
  for (std::uint64_t n = 0; n < 1000000; ++n) {
    b.add(static_cast<ino_t>(1000 + 2 * n));
  }
  const InodeSet set = b.finish();
  EXPECT_EQ(set.size(), 1000000u);
  EXPECT_LE(set.memory_bytes(), 2100000u);
  EXPECT_TRUE(set.contains(1000));
  EXPECT_FALSE(set.contains(1001));
}
