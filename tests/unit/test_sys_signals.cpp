// SPDX-License-Identifier: GPL-2.0-or-later
// Termination signals wait for lift windows (issue #15, item 8).
#include "sys/signals.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace pkgunify;

namespace {

int
exit_status_of(pid_t child)
{
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status)) {
    return -1;
  }
  return WEXITSTATUS(status);
}

}  // namespace

TEST(Signals, WithoutTheHandlersWindowsAreOnlyCounted)
{
  auto w = sys::LiftWindow::open();
  ASSERT_TRUE(w);
  EXPECT_EQ(sys::pending_termination_signal(), 0);
  w->close();
}

TEST(Signals, ASignalWaitsForTheLastWindowAndNoNewWindowOpens)
{
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sys::defer_termination_signals();
    auto a = sys::LiftWindow::open();
    auto b = sys::LiftWindow::open();
    ::raise(SIGHUP);
    if (sys::pending_termination_signal() != SIGHUP) {
      ::_exit(3);
    }
    auto c = sys::LiftWindow::open();  // refused: a signal waits
    if (c || c.error().code != EINTR) {
      ::_exit(4);
    }
    a->close();  // b is still open: no exit yet
    b->close();  // the last: exits 128 + SIGHUP
    ::_exit(5);
  }
  EXPECT_EQ(exit_status_of(child), 128 + SIGHUP);
}

TEST(Signals, OutsideWindowsASignalEndsTheProcessAtOnce)
{
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sys::defer_termination_signals();
    ::raise(SIGTERM);
    ::_exit(6);
  }
  EXPECT_EQ(exit_status_of(child), 128 + SIGTERM);
}
