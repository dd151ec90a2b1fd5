// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/xattr.hpp"

#include "sys/fd.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;
namespace sys = pkgunify::sys;

namespace {

class XattrTest : public TempDirTest
{
protected:
  // A new file "name"; skips the test when the filesystem refuses user
  // xattrs.
  sys::Fd
  file_with_user_xattrs(const std::string& name)
  {
    write_fixed(path(name), "x");
    sys::Fd fd(::open(path(name).c_str(), O_RDWR | O_CLOEXEC));
    EXPECT_TRUE(fd);
    if (auto w = sys::write_xattrs(fd.get(), {{"user.probe", "1"}}, name); !w) {
      skip_reason = "the filesystem under /tmp refuses user xattrs (" + w.error().message + ")";
      return fd;
    }
    EXPECT_EQ(::fremovexattr(fd.get(), "user.probe"), 0);
    return fd;
  }

  // The user.* attributes of `fd` (security.* ones may be there too).
  static sys::Xattrs
  user_xattrs(int fd)
  {
    auto all = sys::read_xattrs(fd, "f");
    EXPECT_TRUE(all) << all.error().message;
    sys::Xattrs out;
    for (auto& [name, value] : all.value_or(sys::Xattrs{})) {
      if (name.starts_with("user.")) {
        out.emplace_back(name, value);
      }
    }
    return out;
  }

  std::string skip_reason;
};

}  // namespace

TEST_F(XattrTest, XattrsRoundTripSorted)
{
  write_fixed(path("a"), "x");
  write_fixed(path("b"), "y");
  sys::Fd a(::open(path("a").c_str(), O_RDWR));
  sys::Fd b(::open(path("b").c_str(), O_RDWR));
  const sys::Xattrs want = {{"user.a", std::string("1\0two", 5)}, {"user.z", ""}};
  auto w = sys::write_xattrs(a.get(), {want[1], want[0]}, "a");
  if (!w && w.error().code == ENOTSUP) {
    GTEST_SKIP() << "filesystem under /tmp has no user xattrs";
  }
  ASSERT_TRUE(w) << w.error().message;
  auto got = sys::read_xattrs(a.get(), "a");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, want);
  ASSERT_TRUE(sys::write_xattrs(b.get(), *got, "b"));
  auto copied = sys::read_xattrs(b.get(), "b");
  ASSERT_TRUE(copied);
  EXPECT_EQ(*copied, want);
}

TEST_F(XattrTest, NewFileHasNoUserXattrs)
{
  const sys::Fd fd = file_with_user_xattrs("f");
  if (!skip_reason.empty()) {
    GTEST_SKIP() << skip_reason;
  }
  EXPECT_TRUE(user_xattrs(fd.get()).empty());
}

TEST_F(XattrTest, ReadSortsByNameBytewise)
{
  const sys::Fd fd = file_with_user_xattrs("f");
  if (!skip_reason.empty()) {
    GTEST_SKIP() << skip_reason;
  }
  const sys::Xattrs written = {{"user.m", "2"}, {"user.Z", "3"}, {"user.a", "1"}, {"user.z", "4"}};
  ASSERT_TRUE(sys::write_xattrs(fd.get(), written, "f"));
  sys::Xattrs want = written;
  std::sort(want.begin(), want.end());
  ASSERT_EQ(want.front().first, "user.Z");  // 'Z' < 'a' bytewise
  EXPECT_EQ(user_xattrs(fd.get()), want);
}

TEST_F(XattrTest, ValuesKeepEveryByte)
{
  const sys::Fd fd = file_with_user_xattrs("f");
  if (!skip_reason.empty()) {
    GTEST_SKIP() << skip_reason;
  }
  std::string binary;
  for (int i = 0; i < 256; ++i) {
    binary += static_cast<char>(i);
  }
  const std::string nuls(3, '\0');
  const std::string large(2000, 'v');
  const sys::Xattrs want = {{"user.binary", binary}, {"user.empty", ""}, {"user.large", large}, {"user.nuls", nuls}};
  ASSERT_TRUE(sys::write_xattrs(fd.get(), want, "f"));
  const sys::Xattrs got = user_xattrs(fd.get());
  EXPECT_EQ(got, want);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].second.size(), 3u);
}

TEST_F(XattrTest, WriteReplacesAValue)
{
  const sys::Fd fd = file_with_user_xattrs("f");
  if (!skip_reason.empty()) {
    GTEST_SKIP() << skip_reason;
  }
  ASSERT_TRUE(sys::write_xattrs(fd.get(), {{"user.k", "old value"}}, "f"));
  ASSERT_TRUE(sys::write_xattrs(fd.get(), {{"user.k", "new"}}, "f"));
  EXPECT_EQ(user_xattrs(fd.get()), (sys::Xattrs{{"user.k", "new"}}));
}

TEST_F(XattrTest, WriteErrorNamesTheAttributeAndTheFile)
{
  write_fixed(path("f"), "x");
  const sys::Fd fd(::open(path("f").c_str(), O_RDWR | O_CLOEXEC));
  // No namespace of that name: every filesystem refuses it.
  auto w = sys::write_xattrs(fd.get(), {{"nonamespace.k", "v"}}, "the/file");
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, EOPNOTSUPP);
  EXPECT_EQ(w.error().message, "set xattr nonamespace.k on the/file: " + std::string(std::strerror(EOPNOTSUPP)));
}

TEST_F(XattrTest, ReadOfABadDescriptorNamesTheFile)
{
  auto r = sys::read_xattrs(-1, "the/file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EBADF);
  EXPECT_EQ(r.error().message, "list xattrs of the/file: " + std::string(std::strerror(EBADF)));
}

TEST(XattrPipe, DescriptorWithoutXattrsGivesAnEmptyList)
{
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  const sys::Fd r(fds[0]);
  const sys::Fd w(fds[1]);
  auto got = sys::read_xattrs(r.get(), "pipe");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(got->empty());
}
