// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/socket.hpp"

#include "sys/fd.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace pkgunify::sys {

bool
unix_socket_accepts(const std::string& path)
{
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return false;
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    return false;
  }
  const int r = ::connect(fd.get(), reinterpret_cast<const struct sockaddr*>(&addr), sizeof(addr));
  // EAGAIN: a listener whose backlog is full; EPROTOTYPE: a listener of
  // another socket type (SOCK_SEQPACKET, SOCK_DGRAM) is bound to it.
  return r == 0 || errno == EAGAIN || errno == EINPROGRESS || errno == EPROTOTYPE;
}

}  // namespace pkgunify::sys
