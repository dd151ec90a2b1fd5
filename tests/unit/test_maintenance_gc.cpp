// SPDX-License-Identifier: GPL-2.0-or-later
// maintenance/gc.cpp
#include "maintenance_fixture.hpp"

#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::MaintenanceTest;
using pkgunify::test::write_fixed;

TEST_F(MaintenanceTest, GcRemovesOnlyWhatNoGuestLinksTo)
{
  ASSERT_EQ(::unlink(path("g3/usr/bin/own").c_str()), 0);
  const GcResult dry = store_gc(*store, true, reporter);
  EXPECT_EQ(dry.removed, 1u);
  EXPECT_EQ(store_stats(*store, reporter).objects, 3u);  // a dry run removes nothing
  const GcResult gc = store_gc(*store, false, reporter);
  EXPECT_EQ(gc.removed, 1u);
  EXPECT_EQ(gc.bytes_freed, 500u);
  EXPECT_EQ(gc.kept, 2u);
  EXPECT_EQ(store_stats(*store, reporter).objects, 2u);
  EXPECT_TRUE(reporter.errors.empty());
}
