// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/dpkg_caller.hpp"

#include "sys/fd.hpp"
#include "sys/read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <climits>

namespace pkgunify {

namespace {

// A file of /proc/PID; empty when it cannot be read (the process is gone).
std::string
proc_file(pid_t pid, const char* name, std::size_t max_size)
{
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  sys::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    return {};
  }
  auto data = sys::read_small_file(fd.get(), max_size, path);
  return data ? std::move(*data) : std::string{};
}

// The parent of `pid` (field 4 of /proc/PID/stat, after the command name in
// parentheses, which may itself hold ") "); 0 when unknown.
pid_t
parent_of(pid_t pid)
{
  const std::string stat = proc_file(pid, "stat", 4096);
  const auto close = stat.rfind(") ");
  if (close == std::string::npos || close + 4 >= stat.size()) {
    return 0;
  }
  const char* first = stat.data() + close + 4;  // past ") S "
  pid_t parent = 0;
  if (std::from_chars(first, stat.data() + stat.size(), parent).ec != std::errc{}) {
    return 0;
  }
  return parent;
}

std::vector<std::string>
split_cmdline(const std::string& cmdline)
{
  std::vector<std::string> args;
  std::size_t start = 0;
  while (start < cmdline.size()) {
    auto nul = cmdline.find('\0', start);
    if (nul == std::string::npos) {
      nul = cmdline.size();
    }
    args.emplace_back(cmdline, start, nul - start);
    start = nul + 1;
  }
  return args;
}

std::string
cwd_of(pid_t pid)
{
  const std::string link = "/proc/" + std::to_string(pid) + "/cwd";
  std::string buf(PATH_MAX, '\0');
  const ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
  if (n <= 0 || static_cast<std::size_t>(n) >= buf.size() || buf[0] != '/') {
    return {};  // unreadable, too long, or not reachable from our root
  }
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

}  // namespace

std::optional<DpkgCaller>
find_dpkg_caller(int depth)
{
  pid_t pid = ::getppid();
  for (int level = 0; level < depth && pid > 1; ++level) {
    if (proc_file(pid, "comm", 64) == "dpkg\n") {
      DpkgCaller caller;
      caller.pid = pid;
      // The kernel keeps an argument vector to a few MiB (ARG_MAX).
      caller.argv = split_cmdline(proc_file(pid, "cmdline", std::size_t{16} << 20));
      caller.cwd = cwd_of(pid);
      if (caller.argv.empty()) {
        return std::nullopt;  // gone, or a kernel thread
      }
      return caller;
    }
    pid = parent_of(pid);
  }
  return std::nullopt;
}

}  // namespace pkgunify
