// SPDX-License-Identifier: GPL-2.0-or-later
// Read leases (fcntl F_SETLEASE F_RDLCK): the kernel grants one only while
// nobody holds the file open for writing, and breaks it when someone opens
// the file for writing or truncates it. That opener waits in open() until the
// lease is released (or /proc/sys/fs/lease-break-time passes). RAII.
#pragma once

#include "sys/error.hpp"

#include <sys/types.h>

#include <string_view>
#include <vector>

namespace pkgunify::sys {

class ReadLease
{
public:
  ReadLease() = default;
  ReadLease(const ReadLease&) = delete;
  ReadLease& operator=(const ReadLease&) = delete;
  ReadLease(ReadLease&& other) noexcept;
  ReadLease& operator=(ReadLease&& other) noexcept;
  ~ReadLease();

  // Takes a read lease on `fd`, a regular file opened O_RDONLY (which must
  // outlive the lease). Fails with EAGAIN while some process holds the file
  // open for writing (the message names the processes), EINVAL where the
  // filesystem or fs.leases-enable refuses leases. Ignores SIGIO from then
  // on if nothing handles it (a broken lease would otherwise kill the holder).
  static Result<ReadLease> take(int fd, std::string_view display);

  // Whether nobody has opened the file for writing or truncated it since the
  // lease was taken.
  [[nodiscard]] bool intact() const;

  void release();
  [[nodiscard]] bool
  held() const
  {
    return m_fd >= 0;
  }

private:
  explicit ReadLease(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

// The processes that hold the inode (dev, ino) open for writing, found in
// /proc/*/fdinfo (error messages only: a snapshot, and slow on busy hosts).
std::vector<pid_t> find_writers(dev_t dev, ino_t ino);

}  // namespace pkgunify::sys
