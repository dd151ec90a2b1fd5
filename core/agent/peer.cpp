// SPDX-License-Identifier: GPL-2.0-or-later
// Who is on the other end of a guest's socket.
#include "agent/internal/server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; not in every libc's headers yet
#endif

namespace pkgunify::agent {

namespace {

// A pidfd of the peer: the socket's own (SO_PEERPIDFD: the very process that
// connected), else one opened now for its pid.
sys::Fd
peer_pidfd(int fd, pid_t pid)
{
  int pidfd = -1;
  socklen_t len = sizeof(pidfd);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 && pidfd >= 0) {
    return sys::Fd(pidfd);
  }
  return sys::Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

}  // namespace

sys::Result<Peer>
check_peer(int fd, const Slot& slot)
{
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
    return sys::fail_sys("getsockopt SO_PEERCRED", slot.socket_path);
  }
  const std::string who = "pid " + std::to_string(cred.pid) + " (uid " + std::to_string(cred.uid) + ")";
  const sys::Fd pidfd = peer_pidfd(fd, cred.pid);
  if (!pidfd) {
    return sys::fail(who + ": gone before it could be checked", ESRCH);
  }
  struct stat st
  {};
  const std::string proc_root = "/proc/" + std::to_string(cred.pid) + "/root";
  sys::Fd view(::open(proc_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  const bool stated = view && ::fstat(view.get(), &st) == 0;
  // Still alive after the open: the pid was that process's all along.
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), 0, nullptr, 0) != 0) {
    return sys::fail(who + ": gone before it could be checked", ESRCH);
  }
  if (!stated) {
    return sys::fail_sys("stat", proc_root);
  }
  if (st.st_dev != slot.root_dev || st.st_ino != slot.root_ino) {
    return sys::fail(who + ": its root directory is not the root of guest " + slot.entry.name + " (" + slot.entry.root
                       + "), whose socket this is; not served",
                     EPERM);
  }
  if (cred.uid != 0 && cred.uid != slot.root_owner) {
    return sys::fail(who + ": not the root user of guest " + slot.entry.name + "; not served", EPERM);
  }
  return Peer{cred.pid, cred.uid, std::move(view)};
}

}  // namespace pkgunify::agent
