// SPDX-License-Identifier: GPL-2.0-or-later
// maintenance/status.cpp
#include "maintenance_fixture.hpp"

#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::MaintenanceTest;
using pkgunify::test::write_fixed;

TEST_F(MaintenanceTest, RootStatusSharesTheSavingFairly)
{
  const auto status = root_status(*store, default_policy(), {path("g1"), path("g3")}, reporter);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].unified_files, 2u);
  EXPECT_EQ(status[1].unified_files, 2u);
  EXPECT_EQ(status[0].modes.at("hardlink"), 2u);
  // g1: a third of tool's 2 x 10000 saved and half of lib's 3000.
  EXPECT_EQ(status[0].saved_bytes, 20000u / 3 + 1500u);
}
