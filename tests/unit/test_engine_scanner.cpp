// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/scanner.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::inode_of;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class ScannerTest : public TempDirTest
{
protected:
  ScanStats
  scan(const std::vector<std::string>& roots, LinkMode mode = LinkMode::hardlink, bool dry_run = false,
       std::uint64_t eager_index_bytes = k_eager_index_bytes)
  {
    const Store store = Store::open(path("store"), Store::Create::if_missing);
    ScanOptions opt;
    opt.link = mode;
    opt.dry_run = dry_run;
    opt.jobs = 2;
    opt.eager_index_bytes = eager_index_bytes;
    Unifier u(store, opt, reporter);
    for (const auto& r : roots) {
      u.add_tree(u.add_root(path(r)));
    }
    return u.run();
  }

  CollectingReporter reporter;
};

// The FS_IMMUTABLE_FL of `path`; `clear` takes it away.
bool
immutable(const std::string& path, bool clear = false)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW);
  int flags = 0;
  bool is = fd >= 0 && ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL) != 0;
  if (is && clear) {
    flags &= ~FS_IMMUTABLE_FL;
    (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return is;
}

}  // namespace

TEST_F(ScannerTest, IdenticalFilesShareOneObjectAndASecondRunReadsNothing)
{
  for (const char* g : {"g1", "g2", "g3"}) {
    write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(8000, 't'));
  }
  write_fixed(path("g3/usr/bin/own"), std::string(8000, 'o'));
  const ScanStats first = scan({"g1", "g2", "g3"});
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(first.linked, 4u);
  EXPECT_EQ(first.objects_created, 2u);
  EXPECT_EQ(first.bytes_saved, 2 * 8000);
  EXPECT_EQ(inode_of(path("g1/usr/bin/tool")), inode_of(path("g3/usr/bin/tool")));
  const ScanStats second = scan({"g1", "g2", "g3"});
  EXPECT_EQ(second.linked, 0u);
  EXPECT_EQ(second.already_linked, 4u);
  EXPECT_EQ(second.bytes_read, 0u);
}

TEST_F(ScannerTest, DryRunChangesNothing)
{
  for (const char* g : {"g1", "g2"}) {
    write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(8000, 't'));
  }
  const ScanStats s = scan({"g1", "g2"}, LinkMode::hardlink, true);
  EXPECT_EQ(s.linked, 2u);
  EXPECT_NE(inode_of(path("g1/usr/bin/tool")), inode_of(path("g2/usr/bin/tool")));
}

TEST_F(ScannerTest, ARootOnAnotherFilesystemIsRefused)
{
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  ScanOptions opt;
  Unifier u(store, opt, reporter);
  if (inode_of("/proc/self") == 0) {
    GTEST_SKIP() << "no /proc";
  }
  EXPECT_THROW(u.add_root("/proc"), ConfigError);
}

// The store's index (every object's inode) is worth reading only for many
// files of several links: against a large index (here: any, the threshold
// being 0), a few such files are read and hashed instead, and still end as
// links to their objects; one already linked is found so by its link step.
TEST_F(ScannerTest, AFewFilesOfSeveralLinksLeaveALargeStoreIndexUnread)
{
  for (int i = 0; i < 3; ++i) {
    write_fixed(path("g1/usr/bin/f" + std::to_string(i)), std::string(3000, static_cast<char>('a' + i)));
  }
  ASSERT_EQ(scan({"g1"}).objects_created, 3u);
  // g2: a pair of names of one new file with f0's content, and a third
  // link of f1's object.
  write_fixed(path("g2/usr/lib/a"), std::string(3000, 'a'));
  ASSERT_EQ(::link(path("g2/usr/lib/a").c_str(), path("g2/usr/lib/b").c_str()), 0);
  ASSERT_EQ(::link(path("g1/usr/bin/f1").c_str(), path("g2/usr/lib/f1").c_str()), 0);

  const ScanStats few = scan({"g2"}, LinkMode::hardlink, false, 0);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(few.store_index_entries, 0u);
  EXPECT_EQ(few.linked, 2u);
  EXPECT_EQ(few.already_linked, 1u);
  EXPECT_EQ(few.objects_created, 0u);
  EXPECT_EQ(few.bytes_read, 2 * 3000u);  // the pair once, and f1's third link
  EXPECT_EQ(inode_of(path("g2/usr/lib/a")), inode_of(path("g1/usr/bin/f0")));
  EXPECT_EQ(inode_of(path("g2/usr/lib/b")), inode_of(path("g1/usr/bin/f0")));

  // A small index (the default threshold) is read at once, and nothing is.
  const ScanStats again = scan({"g2"});
  EXPECT_EQ(again.store_index_entries, 3u);
  EXPECT_EQ(again.already_linked, 3u);
  EXPECT_EQ(again.bytes_read, 0u);
}

// Many files of several links make the large index worth reading once they
// would have cost as much (at least a block each, against at least a block
// a fan-out directory): a second scan of 600 linked files reads it partway
// and counts every one as linked already.
TEST_F(ScannerTest, ManyFilesOfSeveralLinksReadALargeStoreIndexOnce)
{
  constexpr unsigned k_files = 600;
  for (unsigned i = 0; i < k_files; ++i) {
    write_fixed(path("g1/usr/share/d" + std::to_string(i % 7) + "/f" + std::to_string(i)),
                std::string(2000, 'f') + std::to_string(i));
  }
  ASSERT_EQ(scan({"g1"}).objects_created, k_files);
  const ScanStats again = scan({"g1"}, LinkMode::hardlink, false, 0);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(again.store_index_entries, k_files);
  EXPECT_EQ(again.already_linked, k_files);
  EXPECT_EQ(again.linked + again.objects_created, 0u);
}

// A file of several links that is immutable is no file to hash: a store
// object, or someone else's protected file. It makes the index be read at
// once, however large, so a second scan in immutable mode counts the
// objects' links as linked and reads nothing.
TEST_F(ScannerTest, AnImmutableFileOfSeveralLinksReadsTheIndexAtOnce)
{
  for (const char* g : {"g1", "g2"}) {
    write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(5000, 't'));
  }
  const ScanStats first = scan({"g1", "g2"}, LinkMode::immutable);
  if (!immutable(path("g1/usr/bin/tool"))) {
    GTEST_SKIP() << "no immutable attribute here (needs root and a filesystem with it): "
                 << (reporter.errors.empty() ? std::string("none set") : reporter.errors.front());
  }
  EXPECT_EQ(first.linked, 2u);
  const ScanStats again = scan({"g1", "g2"}, LinkMode::immutable, false, 0);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(again.store_index_entries, 1u);
  EXPECT_EQ(again.already_linked, 2u);
  EXPECT_TRUE(again.skipped.empty());
  EXPECT_EQ(again.bytes_read, 0u);
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) {
      immutable(e.path(), true);
    }
  }
}
