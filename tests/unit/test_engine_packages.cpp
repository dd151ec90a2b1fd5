// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/packages.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class PackagesTest : public TempDirTest
{
protected:
  // A merged-/usr root: /bin -> usr/bin, /lib -> usr/lib.
  void
  make_usrmerge_root()
  {
    write_fixed(path("root/usr/bin/ls"), "ls");
    write_fixed(path("root/usr/lib/libc.so"), "libc");
    ASSERT_EQ(::symlink("usr/bin", path("root/bin").c_str()), 0);
    ASSERT_EQ(::symlink("usr/lib", path("root/lib").c_str()), 0);
  }
};

}  // namespace

TEST_F(PackagesTest, CanonicalFollowsDirectorySymlinksInsideTheRoot)
{
  make_usrmerge_root();
  RootPaths paths(path("root"));
  EXPECT_EQ(paths.canonical("/bin/ls"), "/usr/bin/ls");
  EXPECT_EQ(paths.canonical("/usr/bin/ls"), "/usr/bin/ls");
  EXPECT_EQ(paths.canonical("/lib/libc.so"), "/usr/lib/libc.so");
  EXPECT_EQ(paths.canonical("/bin/not-there"), "/usr/bin/not-there");  // the last component is not looked up
  EXPECT_EQ(paths.canonical("/nodir/file"), std::nullopt);
}

TEST_F(PackagesTest, AnAbsoluteSymlinkStaysInsideTheRoot)
{
  write_fixed(path("root/usr/sbin/tool"), "t");
  write_fixed(path("host-sbin/tool"), "host");
  // Inside the guest /sbin -> /usr/sbin; taken on the host it would lead
  // to the host's /usr/sbin.
  ASSERT_EQ(::symlink("/usr/sbin", path("root/sbin").c_str()), 0);
  ASSERT_EQ(::symlink(path("host-sbin").c_str(), path("root/escape").c_str()), 0);
  RootPaths paths(path("root"));
  EXPECT_EQ(paths.canonical("/sbin/tool"), "/usr/sbin/tool");
  // A symlink to a host path is resolved inside the root, where it does not exist.
  EXPECT_EQ(paths.canonical("/escape/tool"), std::nullopt);
}

TEST_F(PackagesTest, TheLastComponentIsNeverFollowed)
{
  make_usrmerge_root();
  ASSERT_EQ(::symlink("/usr/bin/ls", path("root/usr/bin/ls-link").c_str()), 0);
  RootPaths paths(path("root"));
  EXPECT_EQ(paths.canonical("/bin/ls-link"), "/usr/bin/ls-link");
}

TEST_F(PackagesTest, RealRootAndNoDirectory)
{
  make_usrmerge_root();
  ASSERT_EQ(::symlink(path("root").c_str(), path("alias").c_str()), 0);
  EXPECT_EQ(RootPaths(path("alias")).real_root(), path("root"));
  write_fixed(path("plain"), "x");
  EXPECT_THROW(RootPaths(path("plain")), ConfigError);
  EXPECT_THROW(RootPaths(path("missing")), ConfigError);
}

TEST_F(PackagesTest, FilterHoldsCanonicalConfigFilesAndOwnedFiles)
{
  make_usrmerge_root();
  std::vector<PackageInfo> packages(1);
  packages[0].name = "coreutils";
  packages[0].files = {{"/bin/ls", false, DigestAlgo::none, ""},
                       {"/lib/libc.so", true, DigestAlgo::none, ""},
                       {"/etc/missing.conf", true, DigestAlgo::none, ""}};
  const auto f = make_package_filter(packages, "test db", path("root"), Unpackaged::excluded);
  EXPECT_EQ(f->source, "test db");
  EXPECT_TRUE(f->config.contains("/usr/lib/libc.so"));
  EXPECT_FALSE(f->config.contains("/usr/bin/ls"));
  ASSERT_TRUE(f->packaged.has_value());
  EXPECT_TRUE(f->packaged->contains("/usr/bin/ls"));
  const auto g = make_package_filter(packages, "test db", path("root"), Unpackaged::allowed);
  EXPECT_FALSE(g->packaged.has_value());
}
