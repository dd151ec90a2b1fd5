// SPDX-License-Identifier: GPL-2.0-or-later
// The verified exchange (guest/exchange.cpp): the one way a guest file is
// replaced.
#include "guest/exchange.hpp"
#include "guest/protection.hpp"
#include "procutil.hpp"
#include "sys/fs.hpp"
#include "testutil.hpp"

#include <linux/fs.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

namespace {

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::inode_of;
using pkgunify::test::read_file;
using pkgunify::test::write_fixed;

class ExchangeTest : public pkgunify::test::TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    write_fixed(path("file"), "old");
    write_fixed(path("tmp"), "new");
    original = inode_of(path("file"));
    dirfd = sys::Fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(dirfd);
  }

  ExchangeRequest
  request(std::function<bool(const struct stat&)> verify)
  {
    return ExchangeRequest{dirfd.get(), "file", "tmp", path("file"), path("tmp"), std::move(verify), nullptr};
  }

  bool
  exists(const std::string& rel) const
  {
    struct stat st;
    return ::lstat(path(rel).c_str(), &st) == 0;
  }

  ino_t original = 0;
  sys::Fd dirfd;
  CollectingReporter reporter;
};

TEST_F(ExchangeTest, VerifiedReplacementTakesThePathAndTheOldFileGoes)
{
  ino_t seen = 0;
  const auto r = exchange_verified(request([&](const struct stat& old) {
                                     seen = old.st_ino;
                                     return true;
                                   }),
                                   reporter);
  EXPECT_EQ(r, ExchangeResult::exchanged);
  EXPECT_EQ(seen, original);  // verify sees the file that came out
  EXPECT_EQ(read_file(path("file")), "new");
  EXPECT_FALSE(exists("tmp"));
  EXPECT_TRUE(reporter.errors.empty());
}

TEST_F(ExchangeTest, RefusedVerificationSwapsBackAndRemovesTheReplacement)
{
  const auto r = exchange_verified(request([](const struct stat&) { return false; }), reporter);
  EXPECT_EQ(r, ExchangeResult::changed);
  EXPECT_EQ(read_file(path("file")), "old");
  EXPECT_EQ(inode_of(path("file")), original);
  EXPECT_FALSE(exists("tmp"));
}

TEST_F(ExchangeTest, PathRemovedMeanwhileIsChangedAndNothingIsLeft)
{
  ASSERT_EQ(::unlink(path("file").c_str()), 0);
  bool called = false;
  const auto r = exchange_verified(request([&](const struct stat&) { return called = true; }), reporter);
  EXPECT_EQ(r, ExchangeResult::changed);
  EXPECT_FALSE(called);
  EXPECT_FALSE(exists("file"));  // never created by the exchange
  EXPECT_FALSE(exists("tmp"));
  EXPECT_TRUE(reporter.errors.empty());
}

TEST_F(ExchangeTest, ProtectedFileIsNotPermittedAndLeftAsItWas)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "setting FS_IMMUTABLE_FL needs root (CAP_LINUX_IMMUTABLE)";
  }
  sys::Fd fd(::open(path("file").c_str(), O_RDONLY));
  auto flags = get_inode_flags(fd.get(), "file");
  if (!flags || !set_inode_flags(fd.get(), *flags | FS_IMMUTABLE_FL, "file")) {
    GTEST_SKIP() << "the filesystem under /tmp has no immutable flag";
  }
  const auto r = exchange_verified(request([](const struct stat&) { return true; }), reporter);
  ASSERT_TRUE(set_inode_flags(fd.get(), *flags, "file"));
  EXPECT_EQ(r, ExchangeResult::not_permitted);
  EXPECT_EQ(read_file(path("file")), "old");
  EXPECT_FALSE(exists("tmp"));
}

// A second process swaps other files in and out under the name while
// exchanges run: whatever it does, the name always holds a whole file, and
// the replacement only ever replaces the inode the verification accepts.
TEST_F(ExchangeTest, RacingRenamesNeverLoseThePathOrReplaceAnotherFile)
{
  write_fixed(path("other"), "other");
  const pid_t racer = ::fork();
  ASSERT_GE(racer, 0);
  if (racer == 0) {
    for (;;) {  // until killed
      ::renameat2(AT_FDCWD, path("other").c_str(), AT_FDCWD, path("file").c_str(), RENAME_EXCHANGE);
    }
  }
  int replaced = 0;
  for (int i = 0; i < 300; ++i) {
    write_fixed(path("tmp"), "new");
    const ino_t expected = inode_of(path("file"));
    std::string came_out;
    const auto r = exchange_verified(request([&](const struct stat& old) {
                                       came_out = old.st_ino == expected ? "expected" : "other";
                                       return old.st_ino == expected;
                                     }),
                                     reporter);
    EXPECT_TRUE(exists("file"));
    if (r == ExchangeResult::exchanged) {
      ++replaced;
      EXPECT_EQ(came_out, "expected");
      // An "old" file again for the next round.
      write_fixed(path("file.next"), "old");
      ::rename(path("file.next").c_str(), path("file").c_str());
    }
  }
  ::kill(racer, SIGKILL);
  int status = 0;
  ::waitpid(racer, &status, 0);
  EXPECT_TRUE(reporter.errors.empty());
  // Every name still holds one of the three contents, whole.
  for (const char* name : {"file", "other"}) {
    if (exists(name)) {
      const std::string content = read_file(path(name));
      EXPECT_TRUE(content == "old" || content == "new" || content == "other") << name << ": " << content;
    }
  }
  EXPECT_GT(replaced, 0);
}

TEST_F(ExchangeTest, DirTimesSetsTheDirectoryMtimeBackOnlyWhenItChanged)
{
  const struct timespec old[2] = {{0, UTIME_OMIT}, {1500000000, 42}};
  ASSERT_EQ(::futimens(dirfd.get(), old), 0);
  auto mtime = [&] {
    struct stat st;
    ::fstat(dirfd.get(), &st);
    return st.st_mtim;
  };
  {
    DirTimes times(dirfd.get());
    const auto r = exchange_verified(request([](const struct stat&) { return true; }), reporter);
    ASSERT_EQ(r, ExchangeResult::exchanged);
    EXPECT_NE(mtime().tv_sec, 1500000000);  // the exchange changed it
  }
  EXPECT_EQ(mtime().tv_sec, 1500000000);
  EXPECT_EQ(mtime().tv_nsec, 42);
  // Unchanged: nothing is written (a later mtime set meanwhile by someone
  // else after the restore is not undone either).
  {
    DirTimes times(dirfd.get());
    const struct timespec later[2] = {{0, UTIME_OMIT}, {1600000000, 7}};
    times.restore();
    ASSERT_EQ(::futimens(dirfd.get(), later), 0);
  }
  EXPECT_EQ(mtime().tv_sec, 1600000000);
}

}  // namespace
