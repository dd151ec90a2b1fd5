// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/lease.hpp"

#include "sys/fd.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <utility>

namespace pkgunify::sys {

namespace {

void
ignore_sigio_once()
{
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction old = {};
    if (::sigaction(SIGIO, nullptr, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
      struct sigaction ign = {};
      ign.sa_handler = SIG_IGN;
      ::sigemptyset(&ign.sa_mask);
      ::sigaction(SIGIO, &ign, nullptr);
    }
  });
}

std::string
writers_text(int fd)
{
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return {};
  }
  const auto pids = find_writers(st.st_dev, st.st_ino);
  if (pids.empty()) {
    return {};
  }
  std::string text = " (by pid";
  for (pid_t pid : pids) {
    text += " " + std::to_string(pid);
  }
  return text + ")";
}

// The access mode in /proc/PID/fdinfo/N ("flags:\t0100002").
bool
opened_for_writing(int fdinfo_dir, const char* name)
{
  Fd info(::openat(fdinfo_dir, name, O_RDONLY | O_CLOEXEC));
  char buf[256];
  const ssize_t n = info ? ::read(info.get(), buf, sizeof buf - 1) : -1;
  if (n <= 0) {
    return false;
  }
  buf[n] = '\0';
  const char* flags = std::strstr(buf, "flags:");
  if (flags == nullptr) {
    return false;
  }
  const unsigned long value = std::strtoul(flags + 6, nullptr, 8);
  return (value & O_ACCMODE) == O_WRONLY || (value & O_ACCMODE) == O_RDWR;
}

bool
process_writes(const std::string& pid, dev_t dev, ino_t ino)
{
  const std::string base = "/proc/" + pid;
  Fd fds(::open((base + "/fd").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  Fd infos(::open((base + "/fdinfo").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* dir = fds ? ::fdopendir(::dup(fds.get())) : nullptr;
  if (dir == nullptr || !infos) {
    if (dir != nullptr) {
      ::closedir(dir);
    }
    return false;
  }
  bool found = false;
  while (const dirent* e = ::readdir(dir)) {
    struct stat st;
    if (e->d_name[0] != '.' && ::fstatat(fds.get(), e->d_name, &st, 0) == 0 && st.st_dev == dev && st.st_ino == ino
        && opened_for_writing(infos.get(), e->d_name)) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace

ReadLease::ReadLease(ReadLease&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}

ReadLease&
ReadLease::operator=(ReadLease&& other) noexcept
{
  if (this != &other) {
    release();
    m_fd = std::exchange(other.m_fd, -1);
  }
  return *this;
}

ReadLease::~ReadLease()
{
  release();
}

Result<ReadLease>
ReadLease::take(int fd, std::string_view display)
{
  ignore_sigio_once();
  if (::fcntl(fd, F_SETLEASE, F_RDLCK) != 0) {
    const int code = errno;
    if (code == EAGAIN) {
      return fail(std::string(display) + ": open for writing" + writers_text(fd), EAGAIN);
    }
    return fail_sys("take a read lease on", display, code);
  }
  return ReadLease(fd);
}

bool
ReadLease::intact() const
{
  return m_fd >= 0 && ::fcntl(m_fd, F_GETLEASE) == F_RDLCK;
}

void
ReadLease::release()
{
  if (m_fd >= 0) {
    ::fcntl(m_fd, F_SETLEASE, F_UNLCK);
    m_fd = -1;
  }
}

std::vector<pid_t>
find_writers(dev_t dev, ino_t ino)
{
  std::vector<pid_t> pids;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return pids;
  }
  while (const dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') {
      continue;
    }
    if (process_writes(e->d_name, dev, ino)) {
      pids.push_back(static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10)));
    }
  }
  ::closedir(proc);
  return pids;
}

}  // namespace pkgunify::sys
