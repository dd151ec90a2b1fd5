// SPDX-License-Identifier: GPL-2.0-or-later
// The guests' sockets: RUNTIME/guests/NAME/agent.sock.
#include "agent/internal/server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pkgunify::agent {

namespace {

// `path` is a directory owned by root that others may not write to, made
// when missing (never through a symlink).
sys::Result<void>
ensure_dir(const std::string& path)
{
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return sys::fail_sys("mkdir", path);
  }
  struct stat st
  {};
  if (::lstat(path.c_str(), &st) != 0) {
    return sys::fail_sys("lstat", path);
  }
  if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0) {
    return sys::fail(path + ": not a directory of root's that only root may write to; not serving it", EPERM);
  }
  return {};
}

}  // namespace

sys::Result<void>
prepare_agent_dir(const std::string& runtime_dir)
{
  if (::mkdir(runtime_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return sys::fail_sys("mkdir", runtime_dir);
  }
  for (const auto& d : {runtime_dir, runtime_dir + "/guests"}) {
    if (auto ok = ensure_dir(d); !ok) {
      return ok;
    }
  }
  return {};
}

sys::Result<Slot>
make_slot(const GuestEntry& entry)
{
  Slot s;
  s.entry = entry;
  struct stat st
  {};
  if (::stat(entry.root.c_str(), &st) != 0) {
    return sys::fail_sys("stat", entry.root);
  }
  if (!S_ISDIR(st.st_mode)) {
    return sys::fail(entry.root + ": not a directory", ENOTDIR);
  }
  s.root_dev = st.st_dev;
  s.root_ino = st.st_ino;
  s.root_owner = st.st_uid;
  return s;
}

sys::Result<void>
open_slot(const std::string& runtime_dir, Slot& slot)
{
  const std::string guests = runtime_dir + "/guests";
  slot.dir = guests + "/" + slot.entry.name;
  slot.socket_path = slot.dir + "/agent.sock";
  for (const auto& d : {guests, slot.dir}) {
    if (auto ok = ensure_dir(d); !ok) {
      return ok;
    }
  }
  // Bound under a temporary name and listening before it gets its own: a
  // client that finds agent.sock never meets a socket that does not listen
  // yet (ECONNREFUSED).
  const std::string bound_path = slot.dir + "/.agent.sock.new";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (bound_path.size() >= sizeof(addr.sun_path)) {
    return sys::fail(slot.socket_path + ": longer than a socket path may be", ENAMETOOLONG);
  }
  std::memcpy(addr.sun_path, bound_path.c_str(), bound_path.size() + 1);
  sys::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return sys::fail_sys("socket", slot.socket_path);
  }
  ::unlink(bound_path.c_str());  // left by an agent that was killed, or what a guest put there
  // umask 0 for the bind: the socket is 0666; who may use it, the peer check decides.
  const mode_t old = ::umask(0);
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  ::umask(old);
  if (bound != 0) {
    return sys::fail_sys("bind", bound_path);
  }
  if (::listen(fd.get(), 16) != 0) {
    ::unlink(bound_path.c_str());
    return sys::fail_sys("listen", bound_path);
  }
  // Replaces a socket of an earlier agent, or what a guest put there.
  if (::rename(bound_path.c_str(), slot.socket_path.c_str()) != 0) {
    const int code = errno;
    ::unlink(bound_path.c_str());
    return sys::fail_sys("rename " + bound_path + " to", slot.socket_path, code);
  }
  struct stat st
  {};
  if (::lstat(slot.socket_path.c_str(), &st) != 0) {
    return sys::fail_sys("lstat", slot.socket_path);
  }
  slot.socket_dev = st.st_dev;
  slot.socket_ino = st.st_ino;
  slot.listener = std::move(fd);
  return {};
}

bool
slot_socket_intact(const Slot& slot)
{
  struct stat st
  {};
  return slot.listener && ::lstat(slot.socket_path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)
         && st.st_dev == slot.socket_dev && st.st_ino == slot.socket_ino;
}

void
close_slot(Slot& slot, bool remove_dir)
{
  if (slot_socket_intact(slot)) {
    ::unlink(slot.socket_path.c_str());
  }
  slot.listener = sys::Fd();
  if (remove_dir && !slot.dir.empty()) {
    ::rmdir(slot.dir.c_str());  // only when empty and no mount point
  }
}

}  // namespace pkgunify::agent
