// SPDX-License-Identifier: GPL-2.0-or-later
// A move-only owner of a file descriptor. No implicit conversion to int.
#pragma once

#include <unistd.h>

#include <utility>

namespace pkgunify::sys {

class Fd
{
public:
  Fd() = default;
  explicit Fd(int fd) : m_fd(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
  Fd&
  operator=(Fd&& other) noexcept
  {
    if (this != &other) {
      close();
      m_fd = std::exchange(other.m_fd, -1);
    }
    return *this;
  }
  ~Fd() { close(); }

  [[nodiscard]] int
  get() const
  {
    return m_fd;
  }
  [[nodiscard]] bool
  valid() const
  {
    return m_fd >= 0;
  }
  explicit operator bool() const { return valid(); }
  int
  release()
  {
    return std::exchange(m_fd, -1);
  }

  void
  close()
  {
    if (m_fd >= 0) {
      ::close(m_fd);
      m_fd = -1;
    }
  }

private:
  int m_fd = -1;
};

}  // namespace pkgunify::sys
