// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/sync.hpp"
#include "testutil.hpp"

#include <fstream>

using pkgunify::PackageStamp;
using pkgunify::SyncState;
using pkgunify::test::TempDirTest;

namespace {
class SyncStateTest : public TempDirTest
{};
}  // namespace

TEST_F(SyncStateTest, SaveLoadRoundTrip)
{
  SyncState s;
  s.root = "/vservers/g1";
  s.marker = "dpkg 1:2:3.4";
  s.stamps = {{"bash", "5.2 amd64 1:2:3.4"}, {"libc6:amd64", "2.36 amd64 5:6:7.8"}};
  const std::string file = SyncState::path_for(dir + "/state", s.root);
  s.save(file);
  const SyncState t = SyncState::load(file);
  EXPECT_EQ(t.root, s.root);
  EXPECT_EQ(t.marker, s.marker);
  EXPECT_EQ(t.stamps, s.stamps);
}

TEST_F(SyncStateTest, PathDependsOnTheRootOnly)
{
  EXPECT_EQ(SyncState::path_for("/d", "/g1"), SyncState::path_for("/d", "/g1"));
  EXPECT_NE(SyncState::path_for("/d", "/g1"), SyncState::path_for("/d", "/g2"));
  EXPECT_TRUE(SyncState::path_for("/d", "/g1").starts_with("/d/"));
  EXPECT_TRUE(SyncState::path_for("/d", "/g1").ends_with(".state"));
}

TEST_F(SyncStateTest, MissingOrDamagedStateIsEmpty)
{
  EXPECT_TRUE(SyncState::load(path("none")).stamps.empty());
  std::ofstream(path("bad")) << "pkgunify-sync 1\nno tab here\n";
  const SyncState s = SyncState::load(path("bad"));
  EXPECT_TRUE(s.stamps.empty());
  EXPECT_TRUE(s.marker.empty());
  std::ofstream(path("other")) << "something else\n";
  EXPECT_TRUE(SyncState::load(path("other")).marker.empty());
}

TEST_F(SyncStateTest, ChangedListsNewAndDifferentPackages)
{
  SyncState s;
  s.stamps = {{"a", "1"}, {"b", "1"}};
  const std::vector<PackageStamp> now = {{"a", "1"}, {"b", "2"}, {"c", "1"}};
  EXPECT_EQ(s.changed(now), (std::vector<std::string>{"b", "c"}));
}
