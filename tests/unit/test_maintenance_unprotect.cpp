// SPDX-License-Identifier: GPL-2.0-or-later
// maintenance/unprotect.cpp
#include "guest/protection.hpp"
#include "maintenance_fixture.hpp"

#include <linux/fs.h>
#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::MaintenanceTest;
using pkgunify::test::write_fixed;

TEST_F(MaintenanceTest, UnprotectClearsTheImmutableFlagAndKeepsTheSharing)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "setting the immutable flag needs CAP_LINUX_IMMUTABLE";
  }
  const std::string object = object_of(path("g1/usr/bin/tool"));
  ASSERT_FALSE(object.empty());
  {
    sys::Fd fd(::open(object.c_str(), O_RDONLY | O_CLOEXEC));
    auto flags = get_inode_flags(fd.get(), object);
    if (!flags || !set_inode_flags(fd.get(), *flags | FS_IMMUTABLE_FL, object)) {
      GTEST_SKIP() << "the test directory's filesystem has no immutable flag";
    }
  }
  // What a package manager without the hook does: it cannot replace the file.
  EXPECT_NE(::rename(path("g2/usr/lib/lib").c_str(), path("g1/usr/bin/tool").c_str()), 0);
  const UnprotectResult dry = store_unprotect(*store, true, reporter);
  EXPECT_EQ(dry.lifted, 1u);
  const UnprotectResult r = store_unprotect(*store, false, reporter);
  EXPECT_EQ(r.lifted, 1u);
  EXPECT_EQ(r.unchanged, 2u);
  EXPECT_EQ(r.errors, 0u);
  EXPECT_EQ(pkgunify::test::inode_of(path("g1/usr/bin/tool")), pkgunify::test::inode_of(path("g2/usr/bin/tool")));
  sys::Fd fd(::open(object.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(*get_inode_flags(fd.get(), object) & FS_IMMUTABLE_FL);
  EXPECT_EQ(store_unprotect(*store, false, reporter).lifted, 0u);
  EXPECT_TRUE(reporter.errors.empty());
}
