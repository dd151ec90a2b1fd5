// SPDX-License-Identifier: GPL-2.0-or-later
// Termination signals and lift windows. While some thread has taken the
// protection off a shared inode (a LiftWindow is open), SIGINT, SIGTERM and
// SIGHUP wait: the process exits when the last window closes, with status
// 128 + the signal's number (130, 143, 129), after saying so on stderr.
// Outside windows they end the process at once with the same status.
// Without defer_termination_signals() (a library inside rpm, say) windows
// are only counted and the host program's signal handling is untouched.
#pragma once

#include "sys/error.hpp"

namespace pkgunify::sys {

// Installs the handlers (the pkgunify command does, first thing).
void defer_termination_signals();

// The termination signal that arrived and waits, or 0.
int pending_termination_signal();

class LiftWindow
{
public:
  LiftWindow() = default;
  LiftWindow(const LiftWindow&) = delete;
  LiftWindow& operator=(const LiftWindow&) = delete;
  LiftWindow(LiftWindow&& other) noexcept;
  LiftWindow& operator=(LiftWindow&& other) noexcept;
  ~LiftWindow();

  // Opens a window; fails with EINTR once a termination signal waits (then
  // nothing may be lifted any more).
  static Result<LiftWindow> open();

  // Closes it; the last one to close exits if a signal waits.
  void close();

private:
  bool m_open = false;
};

}  // namespace pkgunify::sys
