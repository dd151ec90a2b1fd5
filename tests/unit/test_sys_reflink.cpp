// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/reflink.hpp"

#include "scratch_mount.hpp"
#include "sys/fd.hpp"
#include "sys/fs.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstring>
#include <string>

using pkgunify::test::ScratchMount;
using pkgunify::test::TempDirTest;
namespace sys = pkgunify::sys;

namespace {

// 200 KiB and 100 bytes: many blocks and a partial last one.
const std::string&
content()
{
  static const std::string bytes = [] {
    std::string out(200 * 1024 + 100, '\0');
    std::uint32_t x = 12345;
    for (char& c : out) {
      x = x * 1103515245 + 12345;
      c = static_cast<char>(x >> 16);
    }
    return out;
  }();
  return bytes;
}

sys::Fd
make_file(const std::string& path, const std::string& bytes)
{
  sys::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  EXPECT_TRUE(fd) << path;
  EXPECT_TRUE(sys::write_all(fd.get(), bytes.data(), bytes.size(), path));
  EXPECT_EQ(::fsync(fd.get()), 0);
  return fd;
}

std::string
read_back(int fd)
{
  ::lseek(fd, 0, SEEK_SET);
  std::string out(content().size() + 10, '\0');
  auto n = sys::read_full(fd, out.data(), out.size(), "read back");
  EXPECT_TRUE(n);
  out.resize(n.value_or(0));
  return out;
}

std::uint64_t
shared_extents(int fd)
{
  auto s = sys::extent_sharing(fd, "f");
  EXPECT_TRUE(s) << s.error().message;
  return s ? s->shared : 0;
}

// On a filesystem with extent sharing: btrfs, and XFS made with reflink=1.
class ReflinkTest : public ::testing::TestWithParam<const char*>
{
protected:
  void
  SetUp() override
  {
    if (const std::string why = mount.mount(GetParam()); !why.empty()) {
      GTEST_SKIP() << why;
    }
  }

  ScratchMount mount;
};

}  // namespace

TEST_P(ReflinkTest, CloneSharesEveryExtentAndTheBytes)
{
  const sys::Fd src = make_file(mount.path("src"), content());
  const sys::Fd dst = make_file(mount.path("dst"), "");
  EXPECT_EQ(shared_extents(src.get()), 0u);
  auto r = sys::clone_file(src.get(), dst.get(), "dst");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(read_back(dst.get()), content());
  auto src_sharing = sys::extent_sharing(src.get(), "src");
  auto dst_sharing = sys::extent_sharing(dst.get(), "dst");
  ASSERT_TRUE(src_sharing && dst_sharing);
  EXPECT_GT(dst_sharing->extents, 0u);
  EXPECT_EQ(dst_sharing->shared, dst_sharing->extents);
  EXPECT_EQ(src_sharing->shared, src_sharing->extents);
  EXPECT_EQ(dst_sharing->inline_or_unknown, 0u);
}

TEST_P(ReflinkTest, AWriteToACloneLeavesTheOriginalAlone)
{
  const sys::Fd src = make_file(mount.path("src"), content());
  const sys::Fd dst = make_file(mount.path("dst"), "");
  ASSERT_TRUE(sys::clone_file(src.get(), dst.get(), "dst"));
  ASSERT_EQ(::pwrite(dst.get(), "XYZ", 3, 0), 3);
  ASSERT_EQ(::fsync(dst.get()), 0);
  EXPECT_EQ(read_back(src.get()), content());
  EXPECT_EQ(read_back(dst.get()).substr(0, 3), "XYZ");
}

TEST_P(ReflinkTest, DedupeSharesIdenticalFiles)
{
  const sys::Fd a = make_file(mount.path("a"), content());
  const sys::Fd b = make_file(mount.path("b"), content());
  EXPECT_EQ(shared_extents(a.get()), 0u);
  EXPECT_EQ(shared_extents(b.get()), 0u);
  auto r = sys::dedupe_file(a.get(), b.get(), content().size(), "b");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, sys::DedupeResult::shared);
  EXPECT_GT(shared_extents(a.get()), 0u);
  EXPECT_GT(shared_extents(b.get()), 0u);
  EXPECT_EQ(read_back(b.get()), content());
}

TEST_P(ReflinkTest, DedupeSharesNothingThatDiffers)
{
  std::string other = content();
  other[1000] ^= 1;
  const sys::Fd a = make_file(mount.path("a"), content());
  const sys::Fd b = make_file(mount.path("b"), other);
  auto r = sys::dedupe_file(a.get(), b.get(), content().size(), "b");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, sys::DedupeResult::differs);
  EXPECT_EQ(shared_extents(a.get()), 0u);
  EXPECT_EQ(shared_extents(b.get()), 0u);
  EXPECT_EQ(read_back(b.get()), other);
}

TEST_P(ReflinkTest, DedupeOfNothingIsShared)
{
  const sys::Fd a = make_file(mount.path("a"), content());
  const sys::Fd b = make_file(mount.path("b"), content());
  auto r = sys::dedupe_file(a.get(), b.get(), 0, "b");
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, sys::DedupeResult::shared);
  EXPECT_EQ(shared_extents(b.get()), 0u);
}

TEST_P(ReflinkTest, AnEmptyFileHasNoExtents)
{
  const sys::Fd f = make_file(mount.path("empty"), "");
  auto s = sys::extent_sharing(f.get(), "empty");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->extents, 0u);
  EXPECT_EQ(s->shared, 0u);
}

TEST_P(ReflinkTest, CloneToAnotherFilesystemIsExdev)
{
  const sys::Fd src = make_file(mount.path("src"), content());
  char tmpl[] = "/tmp/pkgunify-unit-reflink.XXXXXX";
  const sys::Fd dst(::mkostemp(tmpl, O_CLOEXEC));
  ASSERT_TRUE(dst);
  ::unlink(tmpl);
  auto r = sys::clone_file(src.get(), dst.get(), "/other/dst");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EXDEV);
  EXPECT_EQ(r.error().message, "clone extents to /other/dst: " + std::string(std::strerror(EXDEV)));
}

INSTANTIATE_TEST_SUITE_P(Filesystems, ReflinkTest, ::testing::Values("btrfs", "xfs"));

// ext4 and tmpfs share no extents: the calls fail with a clear error, and
// FIEMAP still maps the file.
class NoReflinkTest : public TempDirTest
{};

TEST_F(NoReflinkTest, CloneAndDedupeFailClearlyOnTheTestDirectory)
{
  const sys::Fd src = make_file(path("src"), content());
  const sys::Fd dst = make_file(path("dst"), "");
  auto clone = sys::clone_file(src.get(), dst.get(), "the/dst");
  if (clone) {
    GTEST_SKIP() << "the filesystem under /tmp shares extents";
  }
  EXPECT_EQ(clone.error().code, EOPNOTSUPP);
  EXPECT_EQ(clone.error().message, "clone extents to the/dst: " + std::string(std::strerror(EOPNOTSUPP)));
  const sys::Fd same = make_file(path("same"), content());
  auto dedupe = sys::dedupe_file(src.get(), same.get(), content().size(), "the/same");
  ASSERT_FALSE(dedupe);
  EXPECT_EQ(dedupe.error().code, EOPNOTSUPP);
  EXPECT_EQ(dedupe.error().message, "deduplicate the/same: " + std::string(std::strerror(EOPNOTSUPP)));
  auto sharing = sys::extent_sharing(src.get(), "src");
  ASSERT_TRUE(sharing) << sharing.error().message;
  EXPECT_GT(sharing->extents, 0u);
  EXPECT_EQ(sharing->shared, 0u);
}

TEST(NoReflinkTmpfs, CloneFailsClearlyOnTmpfs)
{
  struct statfs fs = {};
  if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
    GTEST_SKIP() << "/dev/shm is no tmpfs";
  }
  char tmpl[] = "/dev/shm/pkgunify-unit.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const sys::Fd src = make_file(dir + "/src", content());
  const sys::Fd dst = make_file(dir + "/dst", "");
  auto clone = sys::clone_file(src.get(), dst.get(), "the/dst");
  std::filesystem::remove_all(dir);
  ASSERT_FALSE(clone);
  EXPECT_EQ(clone.error().code, EOPNOTSUPP);
  EXPECT_EQ(clone.error().message, "clone extents to the/dst: " + std::string(std::strerror(EOPNOTSUPP)));
}

TEST(ReflinkErrors, BadDescriptorsNameTheFile)
{
  auto clone = sys::clone_file(-1, -1, "the/dst");
  ASSERT_FALSE(clone);
  EXPECT_EQ(clone.error().code, EBADF);
  EXPECT_NE(clone.error().message.find("the/dst"), std::string::npos);
  auto map = sys::extent_sharing(-1, "the/file");
  ASSERT_FALSE(map);
  EXPECT_EQ(map.error().message, "map extents of the/file: " + std::string(std::strerror(EBADF)));
  auto dedupe = sys::dedupe_file(-1, -1, 10, "the/file");
  ASSERT_FALSE(dedupe);
  EXPECT_EQ(dedupe.error().code, EBADF);
}
