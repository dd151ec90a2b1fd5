// SPDX-License-Identifier: GPL-2.0-or-later
// maintenance/fsck.cpp
#include "maintenance_fixture.hpp"

#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::MaintenanceTest;
using pkgunify::test::write_fixed;

TEST_F(MaintenanceTest, FsckFindsAndQuarantinesACorruptObject)
{
  EXPECT_EQ(store_fsck(*store, false, 2, reporter).corrupt, 0u);
  const std::string object = object_of(path("g1/usr/lib/lib"));
  ASSERT_FALSE(object.empty());
  {
    std::fstream f(object, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('X');  // what a guest could do through a plain hard link
  }
  const FsckResult found = store_fsck(*store, false, 2, reporter);
  EXPECT_EQ(found.checked, 3u);
  EXPECT_EQ(found.corrupt, 1u);
  ASSERT_FALSE(reporter.errors.empty());
  EXPECT_NE(reporter.errors.back().find(object.substr(object.rfind('/') + 1)), std::string::npos)
    << reporter.errors.back();
  const FsckResult repaired = store_fsck(*store, true, 2, reporter);
  EXPECT_EQ(repaired.quarantined, 1u);
  EXPECT_FALSE(std::filesystem::exists(object));
  EXPECT_TRUE(std::filesystem::exists(path("store/quarantine")));
  EXPECT_EQ(store_fsck(*store, false, 2, reporter).corrupt, 0u);
}
