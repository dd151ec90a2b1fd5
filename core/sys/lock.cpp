#include "sys/lock.hpp"

#include <sys/file.h>

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
