// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/signals.hpp"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <utility>

namespace pkgunify::sys {

namespace {

std::atomic<int> g_windows{0};
std::atomic<int> g_pending{0};

// Async-signal-safe: write(2) and _exit(2) only.
[[noreturn]] void
exit_for(int sig)
{
  const char* name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGHUP";
  const char* parts[] = {"pkgunify: ", name, ": stopped with every shared file protected\n"};
  for (const char* p : parts) {
    (void)!::write(STDERR_FILENO, p, ::strlen(p));
  }
  ::_exit(128 + sig);
}

// The handler announces the signal before it looks at the windows, and a
// window is counted before it looks at the signal: so either the handler
// sees the window (and waits for it), or the window sees the signal (and
// lifts nothing).
void
on_termination(int sig)
{
  int expected = 0;
  g_pending.compare_exchange_strong(expected, sig);
  if (g_windows.load() == 0) {
    exit_for(g_pending.load());
  }
}

}  // namespace

void
defer_termination_signals()
{
  struct sigaction sa = {};
  sa.sa_handler = on_termination;
  ::sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    ::sigaction(sig, &sa, nullptr);
  }
}

int
pending_termination_signal()
{
  return g_pending.load();
}

LiftWindow::LiftWindow(LiftWindow&& other) noexcept : m_open(std::exchange(other.m_open, false)) {}

LiftWindow&
LiftWindow::operator=(LiftWindow&& other) noexcept
{
  if (this != &other) {
    close();
    m_open = std::exchange(other.m_open, false);
  }
  return *this;
}

LiftWindow::~LiftWindow()
{
  close();
}

Result<LiftWindow>
LiftWindow::open()
{
  g_windows.fetch_add(1);
  if (int sig = g_pending.load(); sig != 0) {
    if (g_windows.fetch_sub(1) == 1) {
      exit_for(sig);
    }
    return fail(std::string("interrupted by signal ") + ::strsignal(sig) + ": nothing more is lifted", EINTR);
  }
  LiftWindow w;
  w.m_open = true;
  return w;
}

void
LiftWindow::close()
{
  if (!m_open) {
    return;
  }
  m_open = false;
  if (g_windows.fetch_sub(1) == 1) {
    if (int sig = g_pending.load(); sig != 0) {
      exit_for(sig);
    }
  }
}

}  // namespace pkgunify::sys
