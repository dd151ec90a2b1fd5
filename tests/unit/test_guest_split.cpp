// SPDX-License-Identifier: GPL-2.0-or-later
#include "fake_vserver.hpp"
#include "guest/protection.hpp"
#include "guest/split.hpp"
#include "procutil.hpp"
#include "testutil.hpp"

#include <linux/fs.h>
#include <sys/xattr.h>
#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::FakeVserverKernel;
using pkgunify::test::inode_of;
using pkgunify::test::read_file;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class SplitTest : public TempDirTest
{
protected:
  static struct stat
  stat_of(const std::string& p)
  {
    struct stat st = {};
    ::lstat(p.c_str(), &st);
    return st;
  }

  // g1/f and g2/f: one inode.
  void
  make_shared_pair()
  {
    write_fixed(path("g1/f"), "shared content");
    ASSERT_EQ(::chmod(path("g1/f").c_str(), 0751), 0);
    ASSERT_EQ(::lsetxattr(path("g1/f").c_str(), "user.pkgunify-test", "v", 1, 0) == 0 || errno == ENOTSUP, true);
    std::filesystem::create_directories(path("g2"));
    ASSERT_EQ(::link(path("g1/f").c_str(), path("g2/f").c_str()), 0);
  }

  CollectingReporter reporter;
};

}  // namespace

TEST_F(SplitTest, GivesThePathItsOwnInodeWithContentAndMetadata)
{
  make_shared_pair();
  const struct stat before = stat_of(path("g1/f"));
  FakeVserverKernel kernel;
  EXPECT_EQ(split_path(path("g1/f"), reporter, {.vserver = &kernel}), SplitResult::split);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  const struct stat after = stat_of(path("g1/f"));
  EXPECT_NE(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_nlink, 1u);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(read_file(path("g1/f")), "shared content");
  EXPECT_EQ(inode_of(path("g2/f")), before.st_ino);  // the other guest keeps the shared inode
  char value[8] = {};
  if (::lgetxattr(path("g2/f").c_str(), "user.pkgunify-test", value, sizeof(value)) == 1) {
    EXPECT_EQ(::lgetxattr(path("g1/f").c_str(), "user.pkgunify-test", value, sizeof(value)), 1);
  }
  // No temporary name is left in the directory.
  for (const auto& e : std::filesystem::directory_iterator(path("g1"))) {
    EXPECT_EQ(e.path().filename(), "f");
  }
}

TEST_F(SplitTest, DryRunAndPrivateFilesChangeNothing)
{
  make_shared_pair();
  const ino_t shared = inode_of(path("g1/f"));
  FakeVserverKernel kernel;
  EXPECT_EQ(split_path(path("g1/f"), reporter, {.dry_run = true, .vserver = &kernel}), SplitResult::split);
  EXPECT_EQ(inode_of(path("g1/f")), shared);
  write_fixed(path("g1/own"), "private");
  const ino_t own = inode_of(path("g1/own"));
  EXPECT_EQ(split_path(path("g1/own"), reporter, {.vserver = &kernel}), SplitResult::not_shared);
  EXPECT_EQ(inode_of(path("g1/own")), own);
  EXPECT_TRUE(reporter.errors.empty());
}

TEST_F(SplitTest, RefusesWhatIsNoFileAndSymlinksOnTheWay)
{
  FakeVserverKernel kernel;
  EXPECT_EQ(split_path("relative/path", reporter, {.vserver = &kernel}), SplitResult::failed);
  std::filesystem::create_directories(path("dir"));
  EXPECT_EQ(split_path(path("dir"), reporter, {.vserver = &kernel}), SplitResult::failed);
  make_shared_pair();
  ASSERT_EQ(::symlink(path("g1").c_str(), path("link").c_str()), 0);
  const ino_t shared = inode_of(path("g1/f"));
  EXPECT_EQ(split_path(path("link/f"), reporter, {.vserver = &kernel}), SplitResult::failed);
  EXPECT_EQ(inode_of(path("g1/f")), shared);
  EXPECT_EQ(reporter.errors.size(), 3u);
}

// iunlink protection (through the fake kernel) is lifted for the exchange
// and restored on the inode the other guests keep; the private copy is free.
TEST_F(SplitTest, ProtectionStaysOnTheSharedInode)
{
  make_shared_pair();
  FakeVserverKernel kernel;
  const ino_t shared = inode_of(path("g1/f"));
  {
    sys::Fd fd(::open(path("g1/f").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(kernel.set_iattr(fd.get(), VserverKernel::k_immutable | VserverKernel::k_iunlink,
                                 VserverKernel::k_immutable | VserverKernel::k_iunlink, "f"));
  }
  EXPECT_EQ(split_path(path("g1/f"), reporter, {.vserver = &kernel}), SplitResult::split);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  sys::Fd other(::open(path("g2/f").c_str(), O_RDONLY | O_CLOEXEC));
  sys::Fd mine(::open(path("g1/f").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(inode_of(path("g2/f")), shared);
  EXPECT_EQ(*kernel.get_iattr(other.get(), "g2/f"), VserverKernel::k_immutable | VserverKernel::k_iunlink);
  EXPECT_EQ(*kernel.get_iattr(mine.get(), "g1/f"), 0u);
}

TEST_F(SplitTest, ReleaseLeavesUnprotectedFilesAlone)
{
  make_shared_pair();
  const ino_t shared = inode_of(path("g1/f"));
  EXPECT_EQ(release_if_protected(path("g1/f"), DirResolution::no_symlinks, reporter), ReleaseResult::not_needed);
  EXPECT_EQ(release_if_protected(path("g1/missing"), DirResolution::no_symlinks, reporter), ReleaseResult::not_needed);
  EXPECT_EQ(release_if_protected(path("nodir/f"), DirResolution::follow, reporter), ReleaseResult::not_needed);
  EXPECT_EQ(inode_of(path("g1/f")), shared);
  EXPECT_TRUE(reporter.errors.empty());
}

TEST_F(SplitTest, ReleaseSplitsAnImmutableSharedFile)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "setting the immutable flag needs CAP_LINUX_IMMUTABLE";
  }
  make_shared_pair();
  const ino_t shared = inode_of(path("g1/f"));
  {
    sys::Fd fd(::open(path("g1/f").c_str(), O_RDONLY | O_CLOEXEC));
    auto flags = get_inode_flags(fd.get(), "f");
    if (!flags || !set_inode_flags(fd.get(), *flags | FS_IMMUTABLE_FL, "f")) {
      GTEST_SKIP() << "the test directory's filesystem has no immutable flag";
    }
  }
  EXPECT_EQ(release_if_protected(path("g1/f"), DirResolution::follow, reporter), ReleaseResult::released);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_NE(inode_of(path("g1/f")), shared);
  EXPECT_EQ(read_file(path("g1/f")), "shared content");
  sys::Fd other(::open(path("g2/f").c_str(), O_RDONLY | O_CLOEXEC));
  sys::Fd mine(::open(path("g1/f").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(*get_inode_flags(other.get(), "g2/f") & FS_IMMUTABLE_FL);
  EXPECT_FALSE(*get_inode_flags(mine.get(), "g1/f") & FS_IMMUTABLE_FL);
  // The private copy is writable: the package manager can replace it.
  EXPECT_EQ(::unlink(path("g1/f").c_str()), 0);
  (void)set_inode_flags(other.get(), *get_inode_flags(other.get(), "g2/f") & ~FS_IMMUTABLE_FL, "g2/f");
}

// Many paths at once (the files of packages): each protected shared file
// released, with its content, its other link still protected; a path named
// twice released once; unprotected and missing ones left alone.
TEST_F(SplitTest, ReleaseAllReleasesEachProtectedFileOnce)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "setting the immutable flag needs CAP_LINUX_IMMUTABLE";
  }
  std::vector<ino_t> shared;
  for (const char* name : {"a", "b", "c"}) {
    write_fixed(path(std::string("g1/") + name), std::string("content of ") + name);
    std::filesystem::create_directories(path("g2"));
    ASSERT_EQ(::link(path(std::string("g1/") + name).c_str(), path(std::string("g2/") + name).c_str()), 0);
    shared.push_back(inode_of(path(std::string("g1/") + name)));
  }
  write_fixed(path("g1/private"), "mine");
  const struct timespec dir_mtime
  {
    1600000000, 5
  };
  const struct timespec times[2] = {dir_mtime, dir_mtime};
  ASSERT_EQ(::utimensat(AT_FDCWD, path("g1").c_str(), times, 0), 0);
  for (const char* name : {"a", "b"}) {
    sys::Fd fd(::open(path(std::string("g1/") + name).c_str(), O_RDONLY | O_CLOEXEC));
    auto flags = get_inode_flags(fd.get(), name);
    if (!flags || !set_inode_flags(fd.get(), *flags | FS_IMMUTABLE_FL, name)) {
      GTEST_SKIP() << "the test directory's filesystem has no immutable flag";
    }
  }
  const auto results = release_all_if_protected(
    {path("g1/a"), path("g1/b"), path("g1/a"), path("g1/c"), path("g1/private"), path("g1/missing")},
    DirResolution::no_symlinks, reporter);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(results, (std::vector<ReleaseResult>{ReleaseResult::released, ReleaseResult::released,
                                                 ReleaseResult::not_needed, ReleaseResult::not_needed,
                                                 ReleaseResult::not_needed, ReleaseResult::not_needed}));
  for (std::size_t i = 0; i < 2; ++i) {
    const std::string name(1, static_cast<char>('a' + i));
    EXPECT_NE(inode_of(path("g1/" + name)), shared[i]) << name;
    EXPECT_EQ(read_file(path("g1/" + name)), "content of " + name);
    EXPECT_EQ(inode_of(path("g2/" + name)), shared[i]) << name;
    sys::Fd other(::open(path("g2/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    sys::Fd mine(::open(path("g1/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(*get_inode_flags(other.get(), name) & FS_IMMUTABLE_FL) << name;
    EXPECT_FALSE(*get_inode_flags(mine.get(), name) & FS_IMMUTABLE_FL) << name;
    (void)set_inode_flags(other.get(), *get_inode_flags(other.get(), name) & ~FS_IMMUTABLE_FL, name);
  }
  EXPECT_EQ(inode_of(path("g1/c")), shared[2]);  // not protected: left shared
  // The directory keeps its mtime, as with one split.
  EXPECT_EQ(stat_of(path("g1")).st_mtim.tv_sec, dir_mtime.tv_sec);
  EXPECT_EQ(stat_of(path("g1")).st_mtim.tv_nsec, dir_mtime.tv_nsec);
}

// A copy that fails (no space for it) in one directory: the batch goes on
// with the next, and each directory gets its own mtime back, also the one
// whose copy failed (its descriptor closed, the number taken by the next).
TEST_F(SplitTest, ReleaseAllAfterAFailedCopyPutsBackEachDirectorysOwnMtime)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "mounting a tmpfs needs root";
  }
  const std::string mnt = path("small");
  std::filesystem::create_directories(mnt);
  if (::system(("mount -t tmpfs -o size=256k none " + mnt + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here";
  }
  struct Unmount
  {
    std::string at;
    ~Unmount() { (void)!::system(("umount -l " + at).c_str()); }
  } unmount{mnt};
  const std::string big(160 * 1024, 'b');  // no room for a second copy of it
  const std::vector<std::pair<std::string, std::string>> files = {{"d1/big", big}, {"d2/small", "small"}};
  for (const auto& [name, body] : files) {
    write_fixed(mnt + "/g1/" + name, body);
    std::filesystem::create_directories(std::filesystem::path(mnt + "/g2/" + name).parent_path());
    ASSERT_EQ(::link((mnt + "/g1/" + name).c_str(), (mnt + "/g2/" + name).c_str()), 0);
    sys::Fd fd(::open((mnt + "/g1/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    auto flags = get_inode_flags(fd.get(), name);
    if (!flags || !set_inode_flags(fd.get(), *flags | FS_IMMUTABLE_FL, name)) {
      GTEST_SKIP() << "tmpfs has no immutable flag on this kernel";
    }
  }
  const struct timespec t1[2] = {{1500000000, 1}, {1500000000, 1}};
  const struct timespec t2[2] = {{1600000000, 2}, {1600000000, 2}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (mnt + "/g1/d1").c_str(), t1, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (mnt + "/g1/d2").c_str(), t2, 0), 0);
  const auto results =
    release_all_if_protected({mnt + "/g1/d1/big", mnt + "/g1/d2/small"}, DirResolution::no_symlinks, reporter);
  EXPECT_EQ(results, (std::vector<ReleaseResult>{ReleaseResult::failed, ReleaseResult::released}));
  ASSERT_FALSE(reporter.errors.empty());
  EXPECT_NE(reporter.errors.front().find("big"), std::string::npos) << reporter.errors.front();
  EXPECT_EQ(read_file(mnt + "/g1/d1/big"), big);  // still the shared file, whole
  EXPECT_EQ(inode_of(mnt + "/g1/d1/big"), inode_of(mnt + "/g2/d1/big"));
  EXPECT_EQ(read_file(mnt + "/g1/d2/small"), "small");
  EXPECT_NE(inode_of(mnt + "/g1/d2/small"), inode_of(mnt + "/g2/d2/small"));
  EXPECT_EQ(std::filesystem::directory_iterator(mnt + "/g1/d1")->path().filename(), "big");  // no temporary left
  EXPECT_EQ(stat_of(mnt + "/g1/d1").st_mtim.tv_sec, t1[1].tv_sec);
  EXPECT_EQ(stat_of(mnt + "/g1/d1").st_mtim.tv_nsec, t1[1].tv_nsec);
  EXPECT_EQ(stat_of(mnt + "/g1/d2").st_mtim.tv_sec, t2[1].tv_sec);
  EXPECT_EQ(stat_of(mnt + "/g1/d2").st_mtim.tv_nsec, t2[1].tv_nsec);
  for (const auto& [name, body] : files) {
    for (const char* g : {"/g1/", "/g2/"}) {
      sys::Fd fd(::open((mnt + g + name).c_str(), O_RDONLY | O_CLOEXEC));
      (void)set_inode_flags(fd.get(), *get_inode_flags(fd.get(), name) & ~FS_IMMUTABLE_FL, name);
    }
  }
}
