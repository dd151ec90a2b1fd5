// SPDX-License-Identifier: GPL-2.0-or-later
// maintenance/fsck.cpp
#include "maintenance_fixture.hpp"

#include <fcntl.h>
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

// Issue #15: a protected object that some process holds open for writing
// (it got in while the protection was lifted) is reported: on XFS and btrfs
// that process can write into every guest linked to it.
TEST_F(MaintenanceTest, FsckReportsAProtectedObjectHeldOpenForWriting)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "setting FS_IMMUTABLE_FL needs root";
  }
  const std::string object = object_of(path("g1/usr/lib/lib"));
  ASSERT_FALSE(object.empty());
  sys::Fd writer(::open(object.c_str(), O_WRONLY));
  sys::Fd fd(::open(object.c_str(), O_RDONLY));
  auto kernel = make_vserver_kernel();
  Protector immutable(LinkMode::immutable, *kernel);
  if (auto set = immutable.protect(fd.get(), object); !set) {
    GTEST_SKIP() << set.error().message;
  }
  const FsckResult found = store_fsck(*store, false, 2, reporter);
  EXPECT_EQ(found.corrupt, 1u);
  ASSERT_FALSE(reporter.errors.empty());
  EXPECT_NE(reporter.errors.back().find("open for writing (by pid " + std::to_string(::getpid())), std::string::npos)
    << reporter.errors.back();
  writer.close();
  EXPECT_EQ(store_fsck(*store, false, 2, reporter).corrupt, 0u);
  if (auto g = immutable.lift(fd.get(), object)) {
    g->leave_lifted();
  }
}
