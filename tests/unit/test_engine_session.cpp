// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/session.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <filesystem>

using namespace pkgunify;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class EngineSessionTest : public TempDirTest
{
protected:
  ScanRequest
  request(const std::string& policy_text)
  {
    write_fixed(path("policy.yaml"), policy_text);
    ScanRequest r;
    r.policy_file = path("policy.yaml");
    r.roots = {path("g1")};
    return r;
  }
};

std::string
config_error(const ScanRequest& r)
{
  try {
    (void)setup_scan(r);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_F(EngineSessionTest, ADryRunOnAMissingStoreCreatesNothing)
{
  ScanRequest r = request("store: " + path("sub/store") + "\nlink: hardlink\n");
  r.dry_run = true;
  const ScanSetup s = setup_scan(r);
  EXPECT_FALSE(s.store.exists());
  EXPECT_EQ(s.store.path(), path("sub/store"));
  EXPECT_TRUE(s.opt.dry_run);
  EXPECT_FALSE(std::filesystem::exists(path("sub")));
}

TEST_F(EngineSessionTest, ARunCreatesTheStoreADryRunThenOpensIt)
{
  ScanRequest r = request("store: " + path("store") + "\nlink: hardlink\n");
  EXPECT_TRUE(setup_scan(r).store.exists());
  r.dry_run = true;
  EXPECT_TRUE(setup_scan(r).store.exists());
}

TEST_F(EngineSessionTest, OverridesApply)
{
  ScanRequest r = request("store: " + path("store") + "\nlink: immutable\ncreate: copy\nmin_size: 10\n");
  r.overrides.link = LinkMode::hardlink;
  r.overrides.create = CreateMode::adopt;
  r.overrides.min_size = 4096;
  r.overrides.ignore_mtime = true;
  r.jobs = 3;
  const ScanSetup s = setup_scan(r);
  EXPECT_EQ(s.opt.policy.link, LinkMode::hardlink);
  EXPECT_EQ(s.opt.link, LinkMode::hardlink);
  EXPECT_EQ(s.opt.policy.create, CreateMode::adopt);
  EXPECT_EQ(s.opt.policy.min_size, 4096u);
  EXPECT_TRUE(s.opt.policy.ignore_mtime);
  EXPECT_EQ(s.opt.jobs, 3u);
}

TEST_F(EngineSessionTest, WithoutOverridesThePolicyHolds)
{
  const Policy p = scan_policy(request("link: reflink\ncreate: adopt\nmin_size: 77\n"));
  EXPECT_EQ(p.link, LinkMode::reflink);
  EXPECT_EQ(p.create, CreateMode::adopt);
  EXPECT_EQ(p.min_size, 77u);
  EXPECT_FALSE(p.ignore_mtime);
}

TEST_F(EngineSessionTest, AHookCreatesObjectsAsHookCreateSays)
{
  ScanRequest r = request("create: copy\nhook_create: adopt\n");
  EXPECT_EQ(scan_policy(r).create, CreateMode::copy);
  r.caller = ScanCaller::hook;
  EXPECT_EQ(scan_policy(r).create, CreateMode::adopt);
}

TEST_F(EngineSessionTest, ABadPolicyFileIsAConfigErrorNamingIt)
{
  const std::string message = config_error(request("link: [\n"));
  EXPECT_NE(message.find(path("policy.yaml")), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(path("g1/.pkgunify-store")));
  ScanRequest missing;
  missing.policy_file = path("nope.yaml");
  missing.store = path("store");
  const std::string m2 = config_error(missing);
  EXPECT_NE(m2.find(path("nope.yaml")), std::string::npos) << m2;
  EXPECT_FALSE(std::filesystem::exists(path("store")));
}

TEST_F(EngineSessionTest, TheStoreIsGivenElseThePolicysElseNextToTheFirstRoot)
{
  Policy p = default_policy();
  EXPECT_EQ(run_store_path("/given", p, {"/r"}), "/given");
  EXPECT_EQ(run_store_path("", p, {"/"}), Store::default_location("/"));
  p.store = "/from-policy";
  EXPECT_EQ(run_store_path("", p, {"/r"}), "/from-policy");
  EXPECT_EQ(run_store_path("/given", p, {}), "/given");
  p.store.reset();
  try {
    (void)run_store_path("", p, {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "no store given: use --store DIR or 'store:' in the policy");
  }
}

TEST_F(EngineSessionTest, TheNamedPolicyFileWins)
{
  write_fixed(path("p.yaml"), "min_size: 12345\n");
  EXPECT_EQ(load_run_policy(path("p.yaml")).min_size, 12345u);
}
