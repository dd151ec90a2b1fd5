// SPDX-License-Identifier: GPL-2.0-or-later
// flock(2)-based advisory locks, RAII. Retries EINTR.
#pragma once

#include "sys/error.hpp"

#include <chrono>

namespace pkgunify::sys {

class FileLock
{
public:
  enum class Mode { shared, exclusive };

  FileLock() = default;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  ~FileLock();

  // Locks the open file `fd` (which must outlive the lock). Blocks.
  static Result<FileLock> acquire(int fd, Mode mode, std::string_view what);
  // Like acquire but waits at most `timeout`, then fails with ETIMEDOUT.
  static Result<FileLock> acquire_for(int fd, Mode mode, std::string_view what, std::chrono::milliseconds timeout);
  // Like acquire but fails with EWOULDBLOCK instead of waiting.
  static Result<FileLock> try_acquire(int fd, Mode mode, std::string_view what);

  void release();
  // Forgets the lock without unlocking it: it stays with the open file (and
  // with a child that inherited it) until that is closed.
  void
  dismiss()
  {
    m_fd = -1;
  }
  [[nodiscard]] bool
  held() const
  {
    return m_fd >= 0;
  }

private:
  explicit FileLock(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

}  // namespace pkgunify::sys
