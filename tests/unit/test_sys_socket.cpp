// SPDX-License-Identifier: GPL-2.0-or-later
// Whether a Unix socket is served.
#include "sys/socket.hpp"

#include "sys/fd.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

using namespace pkgunify;
using pkgunify::test::TempDirTest;

namespace {

class SysSocketTest : public TempDirTest
{};

sys::Fd
bound(const std::string& path, int type)
{
  sys::Fd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<const struct sockaddr*>(&addr), sizeof(addr)), 0) << path;
  return fd;
}

}  // namespace

TEST_F(SysSocketTest, ServedOnlyWhileSomeoneListens)
{
  const std::string sock = path("agent.sock");
  EXPECT_FALSE(sys::unix_socket_accepts(sock));  // missing
  {
    const sys::Fd fd = bound(sock, SOCK_STREAM);
    EXPECT_FALSE(sys::unix_socket_accepts(sock));  // bound, nobody listens
    ASSERT_EQ(::listen(fd.get(), 4), 0);
    EXPECT_TRUE(sys::unix_socket_accepts(sock));
  }
  EXPECT_FALSE(sys::unix_socket_accepts(sock));  // closed: a stale socket file
  ::unlink(sock.c_str());
  const sys::Fd seq = bound(sock, SOCK_SEQPACKET);
  ASSERT_EQ(::listen(seq.get(), 4), 0);
  EXPECT_TRUE(sys::unix_socket_accepts(sock));  // a listener of another type
  pkgunify::test::write_fixed(path("file"), "x");
  EXPECT_FALSE(sys::unix_socket_accepts(path("file")));
  EXPECT_FALSE(sys::unix_socket_accepts("/" + std::string(200, 'x')));
}
