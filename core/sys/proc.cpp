// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/proc.hpp"

#include "sys/fd.hpp"
#include "sys/read.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <optional>

namespace pkgunify::sys {

namespace {

constexpr std::size_t k_max_status_size = 64 << 10;

std::optional<pid_t>
pid_of(const char* name)
{
  const std::string_view s(name);
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), pid);
  if (ec != std::errc() || end != s.data() + s.size() || pid <= 0) {
    return std::nullopt;
  }
  return pid;
}

// The process `pid`, read through its /proc directory `dirfd`.
std::optional<ProcessInfo>
read_process(int dirfd, pid_t pid, const std::string& display)
{
  ProcessInfo p;
  p.pid = pid;
  struct stat st = {};
  // Following the magic link "root" gives the directory the process sees as "/".
  if (::fstatat(dirfd, "root", &st, 0) != 0) {
    return std::nullopt;
  }
  p.root_dev = st.st_dev;
  p.root_ino = st.st_ino;
  auto status = read_small_file_at(dirfd, "status", k_max_status_size, display + "/status");
  if (!status || !status_hex_field(*status, "CapBnd", p.cap_bnd)) {
    return std::nullopt;
  }
  if (auto comm = read_small_file_at(dirfd, "comm", 256, display + "/comm")) {
    p.comm = std::move(*comm);
    if (!p.comm.empty() && p.comm.back() == '\n') {
      p.comm.pop_back();
    }
  }
  return p;
}

}  // namespace

bool
status_hex_field(const std::string& status, const std::string& key, std::uint64_t& value)
{
  const std::string prefix = key + ":";
  std::size_t at = prefix.size();
  if (!status.starts_with(prefix)) {
    at = status.find("\n" + prefix);
    if (at == std::string::npos) {
      return false;
    }
    at += prefix.size() + 1;
  }
  at = status.find_first_not_of(" \t", at);
  if (at == std::string::npos) {
    return false;
  }
  const std::size_t end = std::min(status.find('\n', at), status.size());
  const auto [ptr, ec] = std::from_chars(status.data() + at, status.data() + end, value, 16);
  return ec == std::errc() && ptr == status.data() + end;
}

Result<std::vector<ProcessInfo>>
list_processes(const std::string& proc)
{
  DIR* d = ::opendir(proc.c_str());
  if (d == nullptr) {
    return fail_sys("open", proc);
  }
  std::vector<ProcessInfo> out;
  while (const dirent* e = ::readdir(d)) {
    const auto pid = pid_of(e->d_name);
    if (!pid) {
      continue;
    }
    const std::string display = proc + "/" + e->d_name;
    const Fd dir(::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!dir) {
      continue;  // gone meanwhile
    }
    if (auto p = read_process(dir.get(), *pid, display)) {
      out.push_back(std::move(*p));
    }
  }
  ::closedir(d);
  return out;
}

}  // namespace pkgunify::sys
