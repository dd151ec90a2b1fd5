// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/hooks.hpp"
#include "testutil.hpp"

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::inode_of;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class HooksTest : public TempDirTest
{
protected:
  HookRequest
  request(const std::string& root, const std::string& policy_text)
  {
    write_fixed(path("policy.yaml"), policy_text);
    HookRequest r;
    r.root = root;
    r.policy_file = path("policy.yaml");
    return r;
  }

  CollectingReporter reporter;
};

}  // namespace

TEST_F(HooksTest, UnifiesTheListedFilesButNeverConfigFiles)
{
  for (const char* g : {"g1", "g2"}) {
    write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(5000, 't'));
    write_fixed(path(std::string(g) + "/usr/lib/tool.conf"), std::string(5000, 'c'));
    write_fixed(path(std::string(g) + "/usr/share/unlisted"), std::string(5000, 'u'));
  }
  for (const char* g : {"g1", "g2"}) {
    HookRequest r = request(path(g), "store: " + path("store") + "\nlink: hardlink\n");
    r.files = {"/usr/bin/tool", "/usr/lib/tool.conf", "/usr/bin/tool", "/usr/bin/missing"};
    r.config = {"/usr/lib/tool.conf"};
    const HookResult result = unify_files(r, reporter);
    EXPECT_TRUE(result.ran);
    EXPECT_EQ(result.stats.errors, 0u);
  }
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(inode_of(path("g1/usr/bin/tool")), inode_of(path("g2/usr/bin/tool")));
  EXPECT_NE(inode_of(path("g1/usr/lib/tool.conf")), inode_of(path("g2/usr/lib/tool.conf")));
  EXPECT_NE(inode_of(path("g1/usr/share/unlisted")), inode_of(path("g2/usr/share/unlisted")));
}

TEST_F(HooksTest, ABadPolicyIsReportedAndNothingRuns)
{
  write_fixed(path("g1/usr/bin/tool"), std::string(5000, 't'));
  HookRequest r = request(path("g1"), "store: " + path("store") + "\nlink: [\n");
  r.files = {"/usr/bin/tool"};
  EXPECT_FALSE(check_hook_config(r, reporter));
  EXPECT_FALSE(unify_files(r, reporter).ran);
  ASSERT_EQ(reporter.errors.size(), 2u);
  EXPECT_NE(reporter.errors[0].find(path("policy.yaml")), std::string::npos) << reporter.errors[0];
  EXPECT_FALSE(std::filesystem::exists(path("store")));
}

TEST_F(HooksTest, IunlinkWithoutItsKernelFailsTheCheck)
{
  HookRequest r = request(path("g1"), "link: iunlink\n");
  if (make_vserver_kernel()->probe()) {
    GTEST_SKIP() << "this kernel is a Linux-VServer kernel";
  }
  EXPECT_FALSE(check_hook_config(r, reporter));
  ASSERT_EQ(reporter.errors.size(), 1u);
  EXPECT_NE(reporter.errors[0].find("Linux-VServer"), std::string::npos) << reporter.errors[0];
  EXPECT_TRUE(check_hook_config(request(path("g1"), "link: hardlink\n"), reporter));
}

TEST_F(HooksTest, TheNamedPolicyFileWins)
{
  write_fixed(path("p.yaml"), "min_size: 12345\n");
  EXPECT_EQ(load_run_policy(path("p.yaml")).min_size, 12345u);
}
