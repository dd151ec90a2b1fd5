// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/link_mode.hpp"
#include "engine/scanner.hpp"
#include "fake_vserver.hpp"
#include "guest/protection.hpp"
#include "guest/split.hpp"
#include "maintenance/maintenance.hpp"
#include "procutil.hpp"
#include "store/store.hpp"
#include "sys/exceptions.hpp"
#include "sys/lease.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <optional>
#include <thread>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::FakeVserverKernel;
using pkgunify::test::inode_of;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

constexpr std::uint32_t k_iunlink_bits = VserverKernel::k_immutable | VserverKernel::k_iunlink;

class ProtectTest : public TempDirTest
{
protected:
  // A protected file "f" with a second name "g" (a guest's), on /tmp's
  // filesystem; "" or why the test cannot run.
  std::string
  protected_pair(Protector& p, sys::Fd& fd)
  {
    if (::geteuid() != 0) {
      return "setting FS_IMMUTABLE_FL needs root (CAP_LINUX_IMMUTABLE)";
    }
    write_fixed(path("f"), "shared content");
    if (::link(path("f").c_str(), path("g").c_str()) != 0) {
      return "cannot link in /tmp";
    }
    fd = sys::Fd(::open(path("f").c_str(), O_RDONLY));
    auto set = p.protect(fd.get(), "f");
    if (!set) {
      return "no immutable flag under /tmp: " + set.error().message;
    }
    return "";
  }

  // A file "f" with `content` on /tmp's filesystem, open read-only in `fd`;
  // "" or why a test of the immutable flag cannot run.
  std::string
  flaggable_file(sys::Fd& fd, const std::string& content = "content")
  {
    if (::geteuid() != 0) {
      return "setting FS_IMMUTABLE_FL needs root (CAP_LINUX_IMMUTABLE)";
    }
    write_fixed(path("f"), content);
    fd = sys::Fd(::open(path("f").c_str(), O_RDONLY));
    if (int flags = 0; ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0) {
      return "the filesystem under /tmp has no inode flags";
    }
    return "";
  }

  static void
  unprotect(Protector& p, int fd)
  {
    if (auto g = p.lift(fd, "f")) {
      g->leave_lifted();
    }
  }
};

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
  sys::Fd fd;
  if (auto why = flaggable_file(fd); !why.empty()) {
    GTEST_SKIP() << why;
  }
  FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  auto set = p.protect(fd.get(), "f");
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
  auto off = p.state(fd.get(), "f");
  ASSERT_TRUE(off);
  EXPECT_EQ(*off, Protection::none);
  EXPECT_EQ(::link(path("f").c_str(), path("g").c_str()), 0);  // what a lift is for
  // Restored when the guard goes, unless it is told to leave it lifted (so
  // that the fixture can remove the file).
  auto check = lifted->restore();
  ASSERT_TRUE(check);
  EXPECT_TRUE(check->clean());
  auto state = p.state(fd.get(), "f");
  ASSERT_TRUE(state);
  EXPECT_EQ(*state, Protection::immutable);
  auto again = p.lift(fd.get(), "f");
  ASSERT_TRUE(again);
  again->leave_lifted();
}

// Another run's lift window on a published object that carried no protection
// yet (a copy or an adopted inode just published): the run that published it
// protects it only once that window is over. Setting the flag inside it made
// the other run's link fail with EPERM (found by
// CrashTest.ConcurrentScansHookRunsAndGcLoseNothing: a dpkg sync adopted a
// file while a scan linked another guest's copy to it).
class ProtectInLiftWindowTest
  : public ProtectTest
  , public ::testing::WithParamInterface<bool>
{};

TEST_P(ProtectInLiftWindowTest, ProtectingAPublishedObjectWaitsForAnotherRunsLiftWindow)
{
  const bool leased = GetParam();
  sys::Fd fd;
  if (auto why = flaggable_file(fd); !why.empty()) {
    GTEST_SKIP() << why;
  }
  FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  // The linking run: its lift finds nothing to lift, and it means to
  // protect the object when it is done.
  auto window = p.lift(fd.get(), "f");
  ASSERT_TRUE(window) << window.error().message;
  ASSERT_EQ(window->lifted(), Protection::none);
  ASSERT_TRUE(window->restore_as(Protection::immutable));

  // The publishing run, in another thread (the lock is per process and
  // between processes alike).
  sys::Fd pub_fd(::open(path("f").c_str(), O_RDONLY));
  std::optional<sys::ReadLease> lease;
  if (leased) {
    auto l = sys::ReadLease::take(pub_fd.get(), "f");
    ASSERT_TRUE(l) << l.error().message;
    lease.emplace(std::move(*l));
  }
  std::atomic<bool> protected_done{false};
  std::string error;
  std::thread publisher([&] {
    if (leased) {
      auto r = p.protect_leased(pub_fd.get(), *lease, "f");
      if (!r || !*r) {
        error = r ? "lease broken" : r.error().message;
      }
    } else if (auto r = p.protect_locked(pub_fd.get(), "f"); !r) {
      error = r.error().message;
    }
    protected_done = true;
  });
  // Until the join, EXPECT only: an ASSERT would return with the thread running.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(protected_done) << "protected inside another run's lift window";
  auto mid = p.state(fd.get(), "f");
  EXPECT_TRUE(mid && *mid == Protection::none);
  // What the window is for: the link succeeds.
  EXPECT_EQ(::link(path("f").c_str(), path("g").c_str()), 0) << std::strerror(errno);
  auto check = window->restore();
  EXPECT_TRUE(check && check->clean()) << (check ? check->detail : check.error().message);
  publisher.join();
  EXPECT_TRUE(protected_done);
  EXPECT_EQ(error, "");
  auto after = p.state(fd.get(), "f");
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, Protection::immutable);
  unprotect(p, fd.get());
}

INSTANTIATE_TEST_SUITE_P(Protect, ProtectInLiftWindowTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "leased" : "locked"; });

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

// ---- issue #15, item 1: the lift window ----

TEST_F(ProtectTest, LiftIsRefusedWhileAProcessHoldsTheInodeOpenForWriting)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "setting FS_IMMUTABLE_FL needs root";
  }
  write_fixed(path("f"), "content");
  sys::Fd w(::open(path("f").c_str(), O_WRONLY));  // opened before the flag: XFS and btrfs let it write
  sys::Fd fd(::open(path("f").c_str(), O_RDONLY));
  FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  if (auto set = p.protect(fd.get(), "f"); !set) {
    GTEST_SKIP() << set.error().message;
  }
  auto lifted = p.lift(fd.get(), "f");
  ASSERT_FALSE(lifted);
  EXPECT_EQ(lifted.error().code, EAGAIN);
  EXPECT_NE(lifted.error().message.find("open for writing (by pid " + std::to_string(::getpid())), std::string::npos)
    << lifted.error().message;
  auto st = p.state(fd.get(), "f");
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, Protection::immutable);  // never lifted
  w.close();
  unprotect(p, fd.get());
}

// A second process loops on open(O_RDWR) of the guest's name while the
// protection is off: its open gets through the permission check, then waits
// on the lease until the flag is back; the guard sees the broken lease, and
// the write it then tries fails (ext4) and changes nothing.
TEST_F(ProtectTest, AWriterInTheWindowIsSeenAndCannotChangeTheContent)
{
  FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  sys::Fd fd;
  if (auto why = protected_pair(p, fd); !why.empty()) {
    GTEST_SKIP() << why;
  }
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    (void)!::write(ready[1], "r", 1);
    for (;;) {
      const int w = ::open(path("g").c_str(), O_RDWR);
      if (w >= 0) {
        ::_exit(::pwrite(w, "EVIL", 4, 0) == 4 ? 10 : 11);
      }
    }
  }
  char byte;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  bool tainted_called = false;
  bool lifted_in_callback = false;
  bool xattr_in_callback = false;
  struct stat before;
  ASSERT_EQ(::stat(path("f").c_str(), &before), 0);
  {
    auto guard = p.lift(fd.get(), "f");
    ASSERT_TRUE(guard) << guard.error().message;
    ::usleep(300000);  // the child's open passes the check and waits on the lease
    auto check = guard->restore([&](const LiftCheck&) {
      tainted_called = true;
      auto s = p.state(fd.get(), "f");
      lifted_in_callback = s && *s == Protection::none;
      // Lifted for the move to quarantine: a guest's change of the shared
      // inode's metadata now must be put back as well.
      EXPECT_EQ(::chmod(path("g").c_str(), 04777), 0);
      xattr_in_callback = ::setxattr(path("g").c_str(), "user.evil", "1", 1, 0) == 0;
    });
    ASSERT_TRUE(check) << check.error().message;
    EXPECT_TRUE(check->opened_for_writing);
    EXPECT_TRUE(check->tainted());
    EXPECT_NE(check->detail.find("opened for writing"), std::string::npos);
  }
  EXPECT_TRUE(tainted_called);
  EXPECT_TRUE(lifted_in_callback);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 11) << "ext4 refuses writes to an immutable inode";
  EXPECT_EQ(pkgunify::test::read_file(path("f")), "shared content");
  struct stat after;
  ASSERT_EQ(::stat(path("f").c_str(), &after), 0);
  EXPECT_EQ(after.st_mode, before.st_mode);
  if (xattr_in_callback) {
    EXPECT_LT(::getxattr(path("f").c_str(), "user.evil", nullptr, 0), 0);
  }
  auto st = p.state(fd.get(), "f");
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, Protection::immutable);
  ::close(ready[0]);
  ::close(ready[1]);
  unprotect(p, fd.get());
}

// chmod, chown and setxattr are no opens: the lease does not see them. The
// guard compares the metadata after the window and puts it back.
TEST_F(ProtectTest, MetadataChangedInTheWindowIsPutBack)
{
  FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  sys::Fd fd;
  if (auto why = protected_pair(p, fd); !why.empty()) {
    GTEST_SKIP() << why;
  }
  struct stat before;
  ASSERT_EQ(::stat(path("f").c_str(), &before), 0);
  auto guard = p.lift(fd.get(), "f");
  ASSERT_TRUE(guard) << guard.error().message;
  ASSERT_EQ(::chown(path("g").c_str(), 1234, 1234), 0);
  ASSERT_EQ(::chmod(path("g").c_str(), 04755), 0);
  const bool xattr = ::setxattr(path("g").c_str(), "user.evil", "1", 1, 0) == 0;
  auto check = guard->restore();
  ASSERT_TRUE(check) << check.error().message;
  EXPECT_FALSE(check->opened_for_writing);
  EXPECT_TRUE(check->metadata_changed);
  EXPECT_TRUE(check->repaired);
  EXPECT_FALSE(check->tainted());
  EXPECT_NE(check->detail.find("mode 0644 -> 4755"), std::string::npos) << check->detail;
  EXPECT_NE(check->detail.find("owner 0:0 -> 1234:1234"), std::string::npos) << check->detail;
  struct stat after;
  ASSERT_EQ(::stat(path("g").c_str(), &after), 0);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  if (xattr) {
    EXPECT_LT(::getxattr(path("g").c_str(), "user.evil", nullptr, 0), 0);
  }
  auto st = p.state(fd.get(), "f");
  ASSERT_TRUE(st);
  EXPECT_EQ(*st, Protection::immutable);
  unprotect(p, fd.get());
}
