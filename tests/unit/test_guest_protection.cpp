#include "engine/link_mode.hpp"
#include "engine/scanner.hpp"
#include "fake_vserver.hpp"
#include "guest/protection.hpp"
#include "guest/split.hpp"
#include "maintenance/maintenance.hpp"
#include "store/store.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::FakeVserverKernel;
using pkgunify::test::inode_of;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

constexpr std::uint32_t k_iunlink_bits = VserverKernel::k_immutable | VserverKernel::k_iunlink;

class ProtectTest : public TempDirTest
{};

}  // namespace

TEST(VserverKernelReal, MainlineKernelAnswersEnosys)
{
  // Exercises the real syscall path: on a mainline kernel the vserver
  // syscall does not exist.
  auto kernel = make_vserver_kernel();
  auto r = kernel->probe();
  if (r) {
    GTEST_SKIP() << "this kernel has the vserver syscall";
  }
  EXPECT_EQ(r.error().code, ENOSYS);
  EXPECT_NE(r.error().message.find("vserver"), std::string::npos);
}

TEST_F(ProtectTest, IunlinkProtectLiftAndState)
{
  write_fixed(path("f"), "content");
  sys::Fd fd(::open(path("f").c_str(), O_RDONLY));
  FakeVserverKernel vs(true);
  Protector p(LinkMode::iunlink, vs);
  EXPECT_EQ(p.wanted(), Protection::iunlink);
  ASSERT_TRUE(p.protect(fd.get(), "f"));
  EXPECT_EQ(vs.attrs_of(path("f")), k_iunlink_bits);
  auto st = p.state(fd.get(), "f");
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, Protection::iunlink);
  auto lifted = p.lift(fd.get(), "f");
  ASSERT_TRUE(lifted);
  EXPECT_EQ(lifted->lifted(), Protection::iunlink);
  EXPECT_EQ(vs.attrs_of(path("f")), 0u);
}

TEST_F(ProtectTest, ImmutableProtectAndLiftOnRealInode)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "setting FS_IMMUTABLE_FL needs root (CAP_LINUX_IMMUTABLE)";
  }
  write_fixed(path("f"), "content");
  sys::Fd fd(::open(path("f").c_str(), O_RDONLY));
  FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  auto set = p.protect(fd.get(), "f");
  if (!set && (set.error().code == ENOTTY || set.error().code == EOPNOTSUPP)) {
    GTEST_SKIP() << "the filesystem under /tmp has no inode flags";
  }
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(::open(path("f").c_str(), O_WRONLY | O_APPEND), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_NE(::unlink(path("f").c_str()), 0);
  auto st = p.state(fd.get(), "f");
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, Protection::immutable);
  auto lifted = p.lift(fd.get(), "f");
  ASSERT_TRUE(lifted);
  EXPECT_EQ(lifted->lifted(), Protection::immutable);
  sys::Fd w(::open(path("f").c_str(), O_WRONLY | O_APPEND));
  EXPECT_TRUE(w);
  // Restored when the guard goes, unless it is told to leave it lifted (so
  // that the fixture can remove the file).
  ASSERT_TRUE(lifted->restore());
  auto state = p.state(fd.get(), "f");
  ASSERT_TRUE(state);
  EXPECT_EQ(*state, Protection::immutable);
  auto again = p.lift(fd.get(), "f");
  ASSERT_TRUE(again);
  again->leave_lifted();
}

TEST_F(ProtectTest, HardlinkModeProtectsNothingButLifts)
{
  write_fixed(path("f"), "content");
  sys::Fd fd(::open(path("f").c_str(), O_RDONLY));
  FakeVserverKernel vs(true);
  Protector iunlink(LinkMode::iunlink, vs);
  ASSERT_TRUE(iunlink.protect(fd.get(), "f"));
  Protector plain(LinkMode::hardlink, vs);
  EXPECT_EQ(plain.wanted(), Protection::none);
  ASSERT_TRUE(plain.protect(fd.get(), "f"));
  EXPECT_EQ(vs.attrs_of(path("f")), k_iunlink_bits);  // protect() added nothing, removed nothing
  auto lifted = plain.lift(fd.get(), "f");
  ASSERT_TRUE(lifted);
  EXPECT_EQ(vs.attrs_of(path("f")), 0u);
}

// The iunlink mode end to end through the engine, the fake kernel standing
// in for a Linux-VServer kernel.
TEST_F(ProtectTest, IunlinkScanSplitStatusGcThroughFakeKernel)
{
  for (const char* g : {"g1", "g2", "g3"}) {
    write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(5000, 'x'));
  }
  write_fixed(path("g3/usr/bin/own"), std::string(100, 'y'));
  const Store store = Store::open(path("store"), Store::Create::if_missing);
  FakeVserverKernel vs(true);
  CollectingReporter reporter;

  ScanOptions opt;
  opt.policy = default_policy();
  opt.vserver = &vs;
  opt.link = resolve_link_mode(opt.policy, vs, store);
  ASSERT_EQ(opt.link, LinkMode::iunlink);
  ScanStats stats;
  {
    Unifier u(store, opt, reporter);
    for (const char* g : {"g1", "g2", "g3"}) {
      u.add_tree(u.add_root(path(g)));
    }
    stats = u.run();
  }
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(stats.linked, 4u);
  EXPECT_EQ(stats.objects_created, 2u);
  const ino_t shared = inode_of(path("g1/usr/bin/tool"));
  EXPECT_EQ(inode_of(path("g2/usr/bin/tool")), shared);
  EXPECT_EQ(inode_of(path("g3/usr/bin/tool")), shared);
  // Every object, and so every guest link, carries immutable + iunlink.
  EXPECT_EQ(vs.attrs_of(path("g1/usr/bin/tool")), k_iunlink_bits);
  EXPECT_EQ(vs.attrs_of(path("g3/usr/bin/own")), k_iunlink_bits);

  // status reports the mode of each file.
  std::map<std::string, std::string> modes;
  const auto status = root_status(
    store, opt.policy, {path("g1"), path("g3")}, reporter,
    [&](const std::string& root, const std::string& p, std::string_view mode) { modes[root + p] = std::string(mode); },
    &vs);
  EXPECT_EQ(status[0].modes.at("iunlink"), 1u);
  EXPECT_EQ(status[1].modes.at("iunlink"), 2u);
  EXPECT_EQ(modes[path("g1") + "/usr/bin/tool"], "iunlink");

  // split (release) gives g1 a private, unprotected copy; the others keep
  // the protected object.
  EXPECT_EQ(split_path(path("g1/usr/bin/tool"), reporter, {.vserver = &vs}), SplitResult::split);
  EXPECT_NE(inode_of(path("g1/usr/bin/tool")), shared);
  EXPECT_EQ(vs.attrs_of(path("g1/usr/bin/tool")), 0u);
  EXPECT_EQ(vs.attrs_of(path("g2/usr/bin/tool")), k_iunlink_bits);
  EXPECT_EQ(inode_of(path("g2/usr/bin/tool")), shared);

  // A second scan re-unifies g1's file and reads only that one.
  {
    Unifier u(store, opt, reporter);
    for (const char* g : {"g1", "g2", "g3"}) {
      u.add_tree(u.add_root(path(g)));
    }
    stats = u.run();
  }
  EXPECT_EQ(stats.linked, 1u);
  EXPECT_EQ(stats.already_linked, 3u);
  EXPECT_EQ(stats.bytes_read, 5000u);
  EXPECT_EQ(inode_of(path("g1/usr/bin/tool")), shared);

  // gc lifts the attributes of an unreferenced object before removing it.
  ASSERT_EQ(::unlink(path("g3/usr/bin/own").c_str()), 0);
  const GcResult gc = store_gc(store, false, reporter, &vs);
  EXPECT_EQ(gc.removed, 1u);
  EXPECT_EQ(gc.kept, 1u);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
}
