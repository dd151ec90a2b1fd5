// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace sys = pkgunify::sys;

TEST(SysError, NamesTheOperationTheSubjectAndTheSystemError)
{
  const sys::Error e = sys::sys_error("open", "/x/y", ENOENT);
  EXPECT_EQ(e.code, ENOENT);
  EXPECT_EQ(e.message, "open /x/y: " + std::string(std::strerror(ENOENT)));
  EXPECT_EQ(e.what(), e.message);
}

TEST(SysError, AnEmptySubjectIsLeftOut)
{
  EXPECT_EQ(sys::sys_error("pipe", "", EMFILE).message, "pipe: " + std::string(std::strerror(EMFILE)));
}

TEST(SysError, TakesErrnoByDefault)
{
  errno = EACCES;
  const sys::Error e = sys::sys_error("read", "f");
  EXPECT_EQ(e.code, EACCES);
  EXPECT_EQ(e.message, "read f: " + std::string(std::strerror(EACCES)));
}

TEST(SysError, FailAndFailSysMakeErrorResults)
{
  const sys::Result<int> plain = sys::fail("f: something is wrong");
  ASSERT_FALSE(plain);
  EXPECT_EQ(plain.error().code, 0);
  EXPECT_EQ(plain.error().message, "f: something is wrong");
  const sys::Result<void> coded = sys::fail("f: too large", EFBIG);
  ASSERT_FALSE(coded);
  EXPECT_EQ(coded.error().code, EFBIG);
  const sys::Result<std::string> from_sys = sys::fail_sys("stat", "g", ENOTDIR);
  ASSERT_FALSE(from_sys);
  EXPECT_EQ(from_sys.error().code, ENOTDIR);
  EXPECT_EQ(from_sys.error().message, "stat g: " + std::string(std::strerror(ENOTDIR)));
}
