// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/scanner.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <sys/stat.h>
#include <unistd.h>

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
  scan(const std::vector<std::string>& roots, LinkMode mode = LinkMode::hardlink, bool dry_run = false)
  {
    const Store store = Store::open(path("store"), Store::Create::if_missing);
    ScanOptions opt;
    opt.link = mode;
    opt.dry_run = dry_run;
    opt.jobs = 2;
    Unifier u(store, opt, reporter);
    for (const auto& r : roots) {
      u.add_tree(u.add_root(path(r)));
    }
    return u.run();
  }

  CollectingReporter reporter;
};

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
