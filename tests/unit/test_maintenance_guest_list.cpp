// SPDX-License-Identifier: GPL-2.0-or-later
// guest list: the counts, the agent state and the warnings of each guest.
#include "maintenance/guest_list.hpp"

#include "testutil.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::TempDirTest;

namespace {

class GuestListTest : public TempDirTest
{};

sys::ProcessInfo
process(pid_t pid, const std::string& comm, const std::string& root, std::uint64_t cap_bnd)
{
  struct stat st = {};
  EXPECT_EQ(::stat(root.c_str(), &st), 0) << root;
  return {pid, comm, st.st_dev, st.st_ino, cap_bnd};
}

}  // namespace

TEST_F(GuestListTest, CapabilityWarningsNameTheProcessAndTheGuest)
{
  std::filesystem::create_directories(path("g1"));
  std::filesystem::create_directories(path("g2"));
  std::vector<GuestInfo> guests(2);
  guests[0].entry = {"web", path("g1"), "", ""};
  guests[1].entry = {"db", path("g2"), "", ""};
  const std::uint64_t full = 0x1ffffffffffULL;
  const std::uint64_t without = full & ~(std::uint64_t{1} << k_cap_linux_immutable);
  add_capability_warnings(guests, {process(10, "sleep", path("g1"), full), process(11, "init", path("g2"), without),
                                   process(12, "bash", "/", full), process(13, "evil\n\033[2J", path("g1"), full)});
  ASSERT_EQ(guests[0].warnings.size(), 2u);
  EXPECT_EQ(guests[0].warnings[0], "pid 10 (sleep) in guest web keeps CAP_LINUX_IMMUTABLE in its bounding set: it can "
                                   "lift the protection of shared files");
  EXPECT_EQ(guests[0].warnings[1].substr(0, 22), "pid 13 (evil??[2J) in ");
  EXPECT_TRUE(guests[1].warnings.empty());
}

TEST_F(GuestListTest, AMissingRootIsAWarningAndHidesNoOtherGuest)
{
  std::filesystem::create_directories(path("g1/usr/bin"));
  pkgunify::test::write_fixed(path("g1/usr/bin/tool"), std::string(4096, 'x'));
  pkgunify::test::write_fixed(path("p.yaml"), "store: " + path("store") + "\n");
  CollectingReporter reporter;
  const auto infos =
    guest_infos({{"gone", path("none"), "", ""}, {"web", path("g1"), path("p.yaml"), ""}}, "", reporter);
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_FALSE(infos[0].root_exists);
  ASSERT_EQ(infos[0].warnings.size(), 1u);
  EXPECT_EQ(infos[0].warnings[0], "the root " + path("none") + " is missing (No such file or directory)");
  EXPECT_TRUE(infos[1].root_exists);
  EXPECT_EQ(infos[1].store, path("store"));
  EXPECT_FALSE(infos[1].store_exists);  // not scanned yet: nothing unified, nothing created
  EXPECT_EQ(infos[1].unified_files, 0u);
  EXPECT_FALSE(infos[1].agent_served);
  EXPECT_FALSE(std::filesystem::exists(path("store")));
  EXPECT_TRUE(reporter.errors.empty());
}
