// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/lock.hpp"

#include <sys/file.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace pkgunify::sys {

FileLock::FileLock(FileLock&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

FileLock&
FileLock::operator=(FileLock&& other) noexcept
{
  if (this != &other) {
    release();
    m_fd = std::exchange(other.m_fd, -1);
  }
  return *this;
}

FileLock::~FileLock()
{
  release();
}

static Result<FileLock>
lock_impl(int fd, int op, std::string_view what, FileLock (*make)(int))
{
  while (flock(fd, op) != 0) {
    if (errno != EINTR) {
      return fail_sys("lock", what);
    }
  }
  return make(fd);
}

Result<FileLock>
FileLock::acquire(int fd, Mode mode, std::string_view what)
{
  const int op = mode == Mode::shared ? LOCK_SH : LOCK_EX;
  return lock_impl(fd, op, what, [](int f) { return FileLock(f); });
}

Result<FileLock>
FileLock::acquire_for(int fd, Mode mode, std::string_view what, std::chrono::milliseconds timeout)
{
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    auto l = try_acquire(fd, mode, what);
    if (l || (l.error().code != EWOULDBLOCK && l.error().code != EINTR)) {
      return l;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail(std::string(what) + ": still locked by another process after "
                    + std::to_string(timeout.count() / 1000) + " s",
                  ETIMEDOUT);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

Result<FileLock>
FileLock::try_acquire(int fd, Mode mode, std::string_view what)
{
  const int op = (mode == Mode::shared ? LOCK_SH : LOCK_EX) | LOCK_NB;
  return lock_impl(fd, op, what, [](int f) { return FileLock(f); });
}

void
FileLock::release()
{
  if (m_fd >= 0) {
    flock(m_fd, LOCK_UN);
    m_fd = -1;
  }
}

}  // namespace pkgunify::sys
