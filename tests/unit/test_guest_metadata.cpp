// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/metadata.hpp"

#include "sys/fd.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <string>

using namespace pkgunify;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class MetadataTest : public TempDirTest
{
protected:
  sys::Fd
  open_rw(const std::string& name)
  {
    return sys::Fd(::open(path(name).c_str(), O_RDWR | O_CLOEXEC));
  }

  // Whether the filesystem under the test directory takes user xattrs.
  bool
  user_xattrs_work()
  {
    write_fixed(path("probe"), "");
    const sys::Fd fd = open_rw("probe");
    return ::fsetxattr(fd.get(), "user.probe", "1", 1, 0) == 0;
  }
};

}  // namespace

TEST_F(MetadataTest, ApplyMetadataSetsModeMtimeAndChecksIt)
{
  write_fixed(path("f"), "x");
  sys::Fd fd(::open(path("f").c_str(), O_RDWR | O_CLOEXEC));
  FileMeta meta;
  meta.uid = ::geteuid();
  meta.gid = ::getegid();
  meta.mode = 0750;
  meta.size = 1;
  meta.mtime_sec = 1234567890;
  meta.mtime_nsec = 5;
  ASSERT_TRUE(apply_metadata(fd.get(), meta, "f").has_value());
  struct stat st = {};
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1234567890);
  EXPECT_EQ(st.st_mtim.tv_nsec, 5);
}

TEST(FileMeta, FromStatKeepsPermissionBitsOnly)
{
  struct stat st = {};
  st.st_mode = S_IFREG | 06755;
  st.st_uid = 7;
  st.st_gid = 8;
  st.st_size = 42;
  st.st_mtim = {11, 12};
  const FileMeta m = FileMeta::from_stat(st, {});
  EXPECT_EQ(m.mode, 06755u);
  EXPECT_EQ(m.uid, 7u);
  EXPECT_EQ(m.gid, 8u);
  EXPECT_EQ(m.size, 42u);
  EXPECT_EQ(m.mtime_sec, 11);
  EXPECT_EQ(m.mtime_nsec, 12u);
}

TEST_F(MetadataTest, ReadMetadataIsWhatStatSays)
{
  write_fixed(path("f"), "12345");
  const sys::Fd fd = open_rw("f");
  ASSERT_EQ(::fchmod(fd.get(), 0640), 0);
  const struct timespec times[2] = {{0, UTIME_OMIT}, {1600000000, 987654321}};
  ASSERT_EQ(::futimens(fd.get(), times), 0);
  auto meta = read_metadata(fd.get(), "f");
  ASSERT_TRUE(meta) << meta.error().message;
  struct stat st = {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(meta->uid, st.st_uid);
  EXPECT_EQ(meta->gid, st.st_gid);
  EXPECT_EQ(meta->mode, 0640u);
  EXPECT_EQ(meta->size, 5u);
  EXPECT_EQ(meta->mtime_sec, 1600000000);
  EXPECT_EQ(meta->mtime_nsec, 987654321u);
}

TEST_F(MetadataTest, RoundTripWithXattrsAndNanoseconds)
{
  if (!user_xattrs_work()) {
    GTEST_SKIP() << "the filesystem under /tmp refuses user xattrs";
  }
  write_fixed(path("from"), "same bytes");
  write_fixed(path("to"), "same bytes");
  const sys::Fd from = open_rw("from");
  const sys::Fd to = open_rw("to");
  ASSERT_TRUE(sys::write_xattrs(from.get(), {{"user.a", std::string("v\0w", 3)}, {"user.b", ""}}, "from"));
  ASSERT_EQ(::fchmod(from.get(), 0711), 0);
  const struct timespec times[2] = {{0, UTIME_OMIT}, {1234567890, 999999999}};
  ASSERT_EQ(::futimens(from.get(), times), 0);
  auto meta = read_metadata(from.get(), "from");
  ASSERT_TRUE(meta) << meta.error().message;
  ASSERT_TRUE(apply_metadata(to.get(), *meta, "to")) << "apply";
  auto copied = read_metadata(to.get(), "to");
  ASSERT_TRUE(copied);
  EXPECT_EQ(*copied, *meta);
  EXPECT_EQ(copied->mtime_nsec, 999999999u);
  EXPECT_EQ(copied->mode, 0711u);
  char value[8] = {};
  EXPECT_EQ(::fgetxattr(to.get(), "user.a", value, sizeof value), 3);
  EXPECT_EQ(std::string(value, 3), std::string("v\0w", 3));
}

TEST_F(MetadataTest, SetuidAndStickyBitsSurviveTheOwnerChange)
{
  write_fixed(path("f"), "x");
  const sys::Fd fd = open_rw("f");
  auto meta = read_metadata(fd.get(), "f");
  ASSERT_TRUE(meta);
  meta->mode = 07755;  // chown clears setuid/setgid: apply chmods after chown
  if (::geteuid() != 0) {
    meta->mode = 01755;  // setgid needs group membership, setuid ownership
  }
  ASSERT_TRUE(apply_metadata(fd.get(), *meta, "f"));
  struct stat st = {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, meta->mode);
}

TEST_F(MetadataTest, OwnerIsAppliedAsRoot)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "giving a file another owner needs root (CAP_CHOWN)";
  }
  write_fixed(path("f"), "x");
  const sys::Fd fd = open_rw("f");
  auto meta = read_metadata(fd.get(), "f");
  ASSERT_TRUE(meta);
  meta->uid = 4321;
  meta->gid = 8765;
  ASSERT_TRUE(apply_metadata(fd.get(), *meta, "f"));
  struct stat st = {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 8765u);
}

TEST_F(MetadataTest, WhatTheFileDoesNotKeepIsAnError)
{
  write_fixed(path("f"), "12345");
  const sys::Fd fd = open_rw("f");
  auto meta = read_metadata(fd.get(), "f");
  ASSERT_TRUE(meta);
  meta->size = 4;  // apply never changes the size: the check sees it
  auto r = apply_metadata(fd.get(), *meta, "the/file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "the/file: the filesystem did not keep the file's metadata (owner, mode, mtime or "
                               "extended attributes)");
}

TEST_F(MetadataTest, AnExtraXattrOnTheTargetFailsTheCheck)
{
  if (!user_xattrs_work()) {
    GTEST_SKIP() << "the filesystem under /tmp refuses user xattrs";
  }
  write_fixed(path("f"), "x");
  const sys::Fd fd = open_rw("f");
  auto meta = read_metadata(fd.get(), "f");
  ASSERT_TRUE(meta);
  ASSERT_EQ(::fsetxattr(fd.get(), "user.extra", "1", 1, 0), 0);
  auto r = apply_metadata(fd.get(), *meta, "f");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("did not keep"), std::string::npos) << r.error().message;
}

TEST_F(MetadataTest, ErrorsNameTheFile)
{
  auto read = read_metadata(-1, "the/file");
  ASSERT_FALSE(read);
  EXPECT_EQ(read.error().code, EBADF);
  EXPECT_NE(read.error().message.find("the/file"), std::string::npos) << read.error().message;
  FileMeta meta;
  auto apply = apply_metadata(-1, meta, "the/file");
  ASSERT_FALSE(apply);
  EXPECT_EQ(apply.error().message, "chown the/file: " + std::string(std::strerror(EBADF)));
}
