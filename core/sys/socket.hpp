// SPDX-License-Identifier: GPL-2.0-or-later
// Unix domain sockets.
#pragma once

#include <string>

namespace pkgunify::sys {

// Whether a process serves the Unix socket `path`: a non-blocking connect
// to it is accepted (or waits only for a full backlog). False for a missing
// path, no socket, a socket nobody listens on, and a path too long for
// sockaddr_un. The connection is closed at once.
bool unix_socket_accepts(const std::string& path);

}  // namespace pkgunify::sys
