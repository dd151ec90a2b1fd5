#include "maintenance/maintenance.hpp"
#include "guest/protection.hpp"
#include "testutil.hpp"

#include <linux/fs.h>

#include <sys/stat.h>
#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

// Three guests: "tool" in all of them, "lib" in two, "own" in one.
class MaintenanceTest : public TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    for (const char* g : {"g1", "g2", "g3"}) {
      write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(10000, 't'));
    }
    for (const char* g : {"g1", "g2"}) {
      write_fixed(path(std::string(g) + "/usr/lib/lib"), std::string(3000, 'l'));
    }
    write_fixed(path("g3/usr/bin/own"), std::string(500, 'o'));
    store = std::make_unique<Store>(Store::open(path("store"), true));
    ScanOptions opt;
    opt.link = LinkMode::hardlink;
    Unifier u(*store, opt, reporter);
    for (const char* g : {"g1", "g2", "g3"}) {
      u.add_tree(u.add_root(path(g)));
    }
    const ScanStats s = u.run();
    ASSERT_EQ(s.errors, 0u);
    ASSERT_EQ(s.objects_created, 3u);
  }

  // The path of the object `guest_file` links to.
  std::string
  object_of(const std::string& guest_file)
  {
    struct stat g = {};
    EXPECT_EQ(::stat(guest_file.c_str(), &g), 0);
    for (const auto& e : std::filesystem::recursive_directory_iterator(path("store"))) {
      struct stat o = {};
      if (e.is_regular_file() && ::stat(e.path().c_str(), &o) == 0 && o.st_ino == g.st_ino) {
        return e.path();
      }
    }
    return {};
  }

  CollectingReporter reporter;
  std::unique_ptr<Store> store;
};

}  // namespace

TEST_F(MaintenanceTest, StatsCountObjectsLinksAndSavings)
{
  const StoreStats s = store_stats(*store, reporter);
  EXPECT_EQ(s.objects, 3u);
  EXPECT_EQ(s.links, 6u);
  EXPECT_EQ(s.bytes_stored, 10000u + 3000u + 500u);
  EXPECT_EQ(s.bytes_saved, 2 * 10000u + 3000u);
  EXPECT_EQ(s.unreferenced, 0u);
  EXPECT_TRUE(reporter.errors.empty());
}

TEST_F(MaintenanceTest, GcRemovesOnlyWhatNoGuestLinksTo)
{
  ASSERT_EQ(::unlink(path("g3/usr/bin/own").c_str()), 0);
  const GcResult dry = store_gc(*store, true, reporter);
  EXPECT_EQ(dry.removed, 1u);
  EXPECT_EQ(store_stats(*store, reporter).objects, 3u);  // a dry run removes nothing
  const GcResult gc = store_gc(*store, false, reporter);
  EXPECT_EQ(gc.removed, 1u);
  EXPECT_EQ(gc.bytes_freed, 500u);
  EXPECT_EQ(gc.kept, 2u);
  EXPECT_EQ(store_stats(*store, reporter).objects, 2u);
  EXPECT_TRUE(reporter.errors.empty());
}

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

TEST_F(MaintenanceTest, RootStatusSharesTheSavingFairly)
{
  const auto status = root_status(*store, default_policy(), {path("g1"), path("g3")}, reporter);
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].unified_files, 2u);
  EXPECT_EQ(status[1].unified_files, 2u);
  EXPECT_EQ(status[0].modes.at("hardlink"), 2u);
  // g1: a third of tool's 2 x 10000 saved and half of lib's 3000.
  EXPECT_EQ(status[0].saved_bytes, 20000u / 3 + 1500u);
}

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
