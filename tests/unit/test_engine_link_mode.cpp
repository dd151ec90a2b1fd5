// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/link_mode.hpp"

#include "fake_vserver.hpp"
#include "scratch_mount.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>
#include <string>

using namespace pkgunify;
using pkgunify::test::FakeVserverKernel;
using pkgunify::test::ScratchMount;
using pkgunify::test::TempDirTest;

namespace {

class ResolveLinkMode : public TempDirTest
{};

// The ConfigError `resolve_link_mode` throws, or "(no error)".
std::string
config_error(const Policy& policy, VserverKernel& vserver, const Store& store)
{
  try {
    resolve_link_mode(policy, vserver, store);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_F(ResolveLinkMode, ResolveAutoPicksIunlinkOnVserverKernel)
{
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  FakeVserverKernel vs(true);
  Policy policy = default_policy();
  EXPECT_EQ(resolve_link_mode(policy, vs, store), LinkMode::iunlink);
}

TEST_F(ResolveLinkMode, ResolveAutoFallsBackWithoutVserverKernel)
{
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  FakeVserverKernel vs(false);
  Policy policy = default_policy();
  policy.link_fallback = LinkMode::hardlink;
  EXPECT_EQ(resolve_link_mode(policy, vs, store), LinkMode::hardlink);
}

TEST_F(ResolveLinkMode, ResolveIunlinkWithoutVserverKernelIsClearError)
{
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  FakeVserverKernel vs(false);
  Policy policy = default_policy();
  policy.link = LinkMode::iunlink;
  try {
    resolve_link_mode(policy, vs, store);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("Linux-VServer kernel"), std::string::npos) << e.what();
  }
}

TEST_F(ResolveLinkMode, ResolveIunlinkWithRealMainlineKernelIsClearError)
{
  auto kernel = make_vserver_kernel();
  if (kernel->probe()) {
    GTEST_SKIP() << "this kernel has the vserver syscall";
  }
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  Policy policy = default_policy();
  policy.link = LinkMode::iunlink;
  EXPECT_THROW(resolve_link_mode(policy, *kernel, store), ConfigError);
}

TEST_F(ResolveLinkMode, ResolveReflinkOnExt4IsClearError)
{
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  auto a = store.make_temp();
  auto b = store.make_temp();
  ASSERT_TRUE(a && b);
  if (::ioctl(b->get(), FICLONE, a->get()) == 0) {
    GTEST_SKIP() << "the filesystem under /tmp supports reflinks";
  }
  FakeVserverKernel vs(false);
  Policy policy = default_policy();
  policy.link = LinkMode::reflink;
  try {
    resolve_link_mode(policy, vs, store);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot share extents"), std::string::npos) << e.what();
  }
}

TEST_F(ResolveLinkMode, AutoOnAMainlineKernelPicksThePolicysFallback)
{
  auto kernel = make_vserver_kernel();
  if (kernel->probe()) {
    GTEST_SKIP() << "this kernel has the vserver syscall";
  }
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  Policy policy = default_policy();
  ASSERT_EQ(policy.link, LinkMode::auto_select);
  for (const LinkMode fallback : {LinkMode::hardlink, LinkMode::reflink, LinkMode::immutable}) {
    policy.link_fallback = fallback;
    if (fallback == LinkMode::hardlink) {
      EXPECT_EQ(resolve_link_mode(policy, *kernel, store), LinkMode::hardlink);
      continue;
    }
    // The fallback is probed like the mode itself: it resolves to itself or
    // fails saying why.
    try {
      EXPECT_EQ(resolve_link_mode(policy, *kernel, store), fallback);
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("link mode " + std::string(to_string(fallback))), std::string::npos)
        << e.what();
    }
  }
}

TEST_F(ResolveLinkMode, IunlinkWithoutVserverKernelSaysWhatIsMissing)
{
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  FakeVserverKernel vs(false);
  Policy policy = default_policy();
  policy.link = LinkMode::iunlink;
  EXPECT_EQ(config_error(policy, vs, store),
            "link mode iunlink needs a Linux-VServer kernel; this kernel has no vserver syscall (vserver syscall: "
            "Function not implemented); use link: immutable, reflink or hardlink");
}

TEST_F(ResolveLinkMode, ExplicitModesOnAVserverKernel)
{
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  FakeVserverKernel vs(true);
  Policy policy = default_policy();
  policy.link = LinkMode::iunlink;
  EXPECT_EQ(resolve_link_mode(policy, vs, store), LinkMode::iunlink);
  policy.link = LinkMode::hardlink;
  EXPECT_EQ(resolve_link_mode(policy, vs, store), LinkMode::hardlink);
}

TEST_F(ResolveLinkMode, ImmutableWhereTheStoreHasInodeFlags)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "the immutable flag needs root (CAP_LINUX_IMMUTABLE)";
  }
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  auto probe = store.make_temp();
  ASSERT_TRUE(probe);
  unsigned flags = 0;
  if (::ioctl(probe->get(), FS_IOC_GETFLAGS, &flags) != 0) {
    GTEST_SKIP() << "the filesystem under /tmp has no inode flags";
  }
  FakeVserverKernel vs(false);
  Policy policy = default_policy();
  policy.link = LinkMode::immutable;
  EXPECT_EQ(resolve_link_mode(policy, vs, store), LinkMode::immutable);
}

// tmpfs has inode flags since Linux 6.0 (chattr +i works there); ramfs has
// none on any kernel.
TEST_F(ResolveLinkMode, ImmutableOnAStoreWithoutInodeFlagsIsAConfigError)
{
  std::string skipped;
  for (const char* type : {"tmpfs", "ramfs"}) {
    ScratchMount mnt;
    if (const std::string why = mnt.mount(type); !why.empty()) {
      skipped += why + "; ";
      continue;
    }
    const std::string store_path = mnt.path("store");
    const Store store = Store::open(store_path, Store::Create::if_missing);
    auto probe = store.make_temp();
    ASSERT_TRUE(probe) << probe.error().message;
    unsigned flags = 0;
    if (::ioctl(probe->get(), FS_IOC_GETFLAGS, &flags) == 0) {
      skipped += std::string(type) + " has inode flags on this kernel; ";
      continue;
    }
    FakeVserverKernel vs(false);
    Policy policy = default_policy();
    policy.link = LinkMode::immutable;
    const std::string message = config_error(policy, vs, store);
    EXPECT_TRUE(message.starts_with("link mode immutable: the filesystem of " + store_path + " has no inode flags ("))
      << type << ": " << message;
    return;
  }
  GTEST_SKIP() << "no filesystem without inode flags to mount: " << skipped;
}

TEST_F(ResolveLinkMode, AnAbsentStoreIsNotProbed)
{
  const std::string store_path = path("not/yet/store");
  const Store store = Store::absent(store_path);
  ASSERT_FALSE(store.exists());
  FakeVserverKernel vs(false);
  Policy policy = default_policy();
  // On ext4 (/tmp) a reflink probe would fail, and as any user but root an
  // immutable one: neither runs.
  for (const LinkMode mode : {LinkMode::immutable, LinkMode::reflink, LinkMode::hardlink}) {
    policy.link = mode;
    EXPECT_EQ(resolve_link_mode(policy, vs, store), mode);
  }
  policy.link = LinkMode::auto_select;
  policy.link_fallback = LinkMode::reflink;
  EXPECT_EQ(resolve_link_mode(policy, vs, store), LinkMode::reflink);
  EXPECT_FALSE(std::filesystem::exists(path("not")));
  // The kernel is still asked for iunlink: that is no probe of the store.
  policy.link = LinkMode::iunlink;
  EXPECT_THROW(resolve_link_mode(policy, vs, store), ConfigError);
  FakeVserverKernel vserver(true);
  EXPECT_EQ(resolve_link_mode(policy, vserver, store), LinkMode::iunlink);
  EXPECT_FALSE(std::filesystem::exists(path("not")));
}

TEST_F(ResolveLinkMode, ReflinkOnBtrfs)
{
  ScratchMount btrfs;
  if (const std::string why = btrfs.mount("btrfs"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const Store store = Store::open(btrfs.path("store"), Store::Create::if_missing);
  FakeVserverKernel vs(false);
  Policy policy = default_policy();
  policy.link = LinkMode::reflink;
  EXPECT_EQ(resolve_link_mode(policy, vs, store), LinkMode::reflink);
}
