// SPDX-License-Identifier: GPL-2.0-or-later
// maintenance/stats.cpp
#include "maintenance_fixture.hpp"

#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::MaintenanceTest;
using pkgunify::test::write_fixed;

TEST_F(MaintenanceTest, StatsCountObjectsLinksAndSavings)
{
  const StoreStats s = store_stats(*store, reporter);
  EXPECT_EQ(s.objects, 3u);
  EXPECT_EQ(s.links, 6u);
  EXPECT_EQ(s.bytes_stored, 10000u + 3000u + 500u);
  EXPECT_EQ(s.bytes_saved, 2 * 10000u + 3000u);
  EXPECT_EQ(s.unreferenced, 0u);
  EXPECT_TRUE(reporter.errors.empty());
}
