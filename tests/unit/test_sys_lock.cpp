// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/lock.hpp"

#include "sys/fd.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;
namespace sys = pkgunify::sys;

namespace {

using Mode = sys::FileLock::Mode;

// flock(2) locks belong to the open file description: two open() of one
// file in one process conflict like two processes do.
class FileLockTest : public TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    write_fixed(path("lock"), "");
  }

  [[nodiscard]] sys::Fd
  open_lock() const
  {
    return sys::Fd(::open(path("lock").c_str(), O_RDONLY | O_CLOEXEC));
  }

  // Whether a third descriptor could take the lock exclusively now.
  [[nodiscard]] bool
  free_for_exclusive() const
  {
    const sys::Fd probe = open_lock();
    return sys::FileLock::try_acquire(probe.get(), Mode::exclusive, "lock").has_value();
  }
};

}  // namespace

TEST_F(FileLockTest, FileLockExclusiveExcludesOthers)
{
  write_fixed(path("lock"), "");
  sys::Fd fd1(::open(path("lock").c_str(), O_RDONLY));
  sys::Fd fd2(::open(path("lock").c_str(), O_RDONLY));
  auto shared1 = sys::FileLock::acquire(fd1.get(), sys::FileLock::Mode::shared, "lock");
  ASSERT_TRUE(shared1);
  auto shared2 = sys::FileLock::try_acquire(fd2.get(), sys::FileLock::Mode::shared, "lock");
  EXPECT_TRUE(shared2);
  shared2->release();
  auto excl = sys::FileLock::try_acquire(fd2.get(), sys::FileLock::Mode::exclusive, "lock");
  ASSERT_FALSE(excl);
  EXPECT_EQ(excl.error().code, EWOULDBLOCK);
  shared1->release();
  auto excl2 = sys::FileLock::try_acquire(fd2.get(), sys::FileLock::Mode::exclusive, "lock");
  EXPECT_TRUE(excl2);
}

TEST_F(FileLockTest, ExclusiveExcludesSharedAndNamesTheLock)
{
  const sys::Fd fd1 = open_lock();
  const sys::Fd fd2 = open_lock();
  auto excl = sys::FileLock::acquire(fd1.get(), Mode::exclusive, "the/lock");
  ASSERT_TRUE(excl) << excl.error().message;
  EXPECT_TRUE(excl->held());
  auto shared = sys::FileLock::try_acquire(fd2.get(), Mode::shared, "the/lock");
  ASSERT_FALSE(shared);
  EXPECT_EQ(shared.error().code, EWOULDBLOCK);
  EXPECT_EQ(shared.error().message, "lock the/lock: " + std::string(std::strerror(EWOULDBLOCK)));
}

TEST_F(FileLockTest, ReleaseFreesTheLockAndIsIdempotent)
{
  const sys::Fd fd = open_lock();
  auto lock = sys::FileLock::acquire(fd.get(), Mode::exclusive, "lock");
  ASSERT_TRUE(lock);
  EXPECT_FALSE(free_for_exclusive());
  lock->release();
  EXPECT_FALSE(lock->held());
  EXPECT_TRUE(free_for_exclusive());
  lock->release();
  EXPECT_FALSE(lock->held());
}

TEST_F(FileLockTest, DestructorReleases)
{
  const sys::Fd fd = open_lock();
  {
    auto lock = sys::FileLock::acquire(fd.get(), Mode::exclusive, "lock");
    ASSERT_TRUE(lock);
    EXPECT_FALSE(free_for_exclusive());
  }
  EXPECT_TRUE(free_for_exclusive());
}

TEST_F(FileLockTest, DefaultLockHoldsNothing)
{
  sys::FileLock lock;
  EXPECT_FALSE(lock.held());
  lock.release();
  EXPECT_FALSE(lock.held());
}

TEST_F(FileLockTest, MoveHandsTheLockOver)
{
  const sys::Fd fd = open_lock();
  auto first = sys::FileLock::acquire(fd.get(), Mode::exclusive, "lock");
  ASSERT_TRUE(first);
  sys::FileLock moved(std::move(*first));
  EXPECT_FALSE(first->held());  // a moved-from lock holds nothing
  EXPECT_TRUE(moved.held());
  first->release();  // the moved-from lock releases nothing
  EXPECT_FALSE(free_for_exclusive());
  {
    sys::FileLock assigned;
    assigned = std::move(moved);
    EXPECT_FALSE(moved.held());
    EXPECT_TRUE(assigned.held());
    EXPECT_FALSE(free_for_exclusive());
  }
  EXPECT_TRUE(free_for_exclusive());
}

TEST_F(FileLockTest, MoveAssignmentReleasesTheLockItHeld)
{
  write_fixed(path("other"), "");
  const sys::Fd fd = open_lock();
  const sys::Fd other(::open(path("other").c_str(), O_RDONLY | O_CLOEXEC));
  auto lock = sys::FileLock::acquire(fd.get(), Mode::exclusive, "lock");
  auto next = sys::FileLock::acquire(other.get(), Mode::exclusive, "other");
  ASSERT_TRUE(lock && next);
  *lock = std::move(*next);
  EXPECT_TRUE(lock->held());
  EXPECT_TRUE(free_for_exclusive());  // "lock" was released by the assignment
  const sys::Fd probe(::open(path("other").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(sys::FileLock::try_acquire(probe.get(), Mode::exclusive, "other"));
}

TEST_F(FileLockTest, AcquireWaitsForTheHolder)
{
  const sys::Fd fd1 = open_lock();
  const sys::Fd fd2 = open_lock();
  auto held = sys::FileLock::acquire(fd1.get(), Mode::shared, "lock");
  ASSERT_TRUE(held);
  std::atomic<bool> got{false};
  std::thread waiter([&] {
    auto excl = sys::FileLock::acquire(fd2.get(), Mode::exclusive, "lock");
    got = excl.has_value();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(got);
  held->release();
  waiter.join();
  EXPECT_TRUE(got);
}

TEST_F(FileLockTest, BadDescriptorIsAnErrorNamingTheLock)
{
  auto lock = sys::FileLock::acquire(-1, Mode::shared, "the/lock");
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().code, EBADF);
  EXPECT_NE(lock.error().message.find("the/lock"), std::string::npos) << lock.error().message;
  EXPECT_FALSE(sys::FileLock::try_acquire(-1, Mode::exclusive, "the/lock"));
}
