// SPDX-License-Identifier: GPL-2.0-or-later
// The processes of /proc: their root, name and bounding set.
#include "sys/proc.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

using namespace pkgunify::sys;

TEST(SysProc, StatusHexField)
{
  std::uint64_t v = 0;
  EXPECT_TRUE(status_hex_field("Name:\tx\nCapBnd:\t000001ffffffffff\nCapAmb:\t0\n", "CapBnd", v));
  EXPECT_EQ(v, 0x1ffffffffffu);
  EXPECT_TRUE(status_hex_field("CapBnd:\t0000000000000200", "CapBnd", v));
  EXPECT_EQ(v, 0x200u);
  EXPECT_FALSE(status_hex_field("Name:\tCapBnd:\t12\n", "CapBnd", v));  // not at a line's start
  EXPECT_FALSE(status_hex_field("XCapBnd:\t12\n", "CapBnd", v));
  EXPECT_FALSE(status_hex_field("CapBnd:\tzz\n", "CapBnd", v));
  EXPECT_FALSE(status_hex_field("CapBnd:\n", "CapBnd", v));
}

TEST(SysProc, ListsThisProcessWithItsRoot)
{
  const auto all = list_processes();
  ASSERT_TRUE(all) << all.error().message;
  const auto self = std::find_if(all->begin(), all->end(), [](const ProcessInfo& p) { return p.pid == ::getpid(); });
  ASSERT_NE(self, all->end());
  struct stat root = {};
  ASSERT_EQ(::stat("/", &root), 0);
  EXPECT_EQ(self->root_dev, root.st_dev);
  EXPECT_EQ(self->root_ino, root.st_ino);
  EXPECT_FALSE(self->comm.empty());
  EXPECT_EQ(self->comm.find('\n'), std::string::npos);
  EXPECT_FALSE(list_processes("/nonexistent-proc"));
}
