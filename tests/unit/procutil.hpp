// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers for unit tests that build packages with real tools: run a
// command, write and read files.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace pkgunify::test {

namespace fs = std::filesystem;

struct RunResult
{
  int status = -1;
  std::string output;
};

// Runs argv[0] from PATH, in `cwd` when given, with stdout and stderr
// captured.
inline RunResult
run(const std::vector<std::string>& argv, const std::string& cwd = {})
{
  RunResult result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return result;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      ::_exit(126);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) {
      args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(fds[0]);
  int wstatus = 0;
  if (pid > 0 && ::waitpid(pid, &wstatus, 0) == pid && WIFEXITED(wstatus)) {
    result.status = WEXITSTATUS(wstatus);
  }
  return result;
}

inline bool
have_tool(const std::string& tool)
{
  return run({tool, "--version"}).status == 0;
}

// A test suite that builds and installs packages with real tools once for
// all its tests: why it is skipped, what failed while it was set up, and
// its directory.
struct PackageSuite
{
  std::string skip;
  std::string error;
  std::string dir;

  // Checks that this runs as root (`root_skip` says why it must) and that
  // every one of `tools` is there (`tools_skip` otherwise), then makes the
  // suite's directory from `tmpl` ("/tmp/pkgunify-NAME.XXXXXX"). False, with
  // `skip` or `error` set, when the suite cannot run.
  bool
  start(const std::string& root_skip, const std::vector<std::string>& tools, const std::string& tools_skip,
        std::string tmpl)
  {
    skip.clear();
    error.clear();
    if (::geteuid() != 0) {
      skip = root_skip;
      return false;
    }
    for (const std::string& tool : tools) {
      if (!have_tool(tool)) {
        skip = tools_skip;
        return false;
      }
    }
    if (::mkdtemp(tmpl.data()) == nullptr) {
      error = "mkdtemp failed";
      return false;
    }
    dir = tmpl;
    return true;
  }

  void
  remove()
  {
    if (!dir.empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      dir.clear();
    }
  }
};

inline void
write_file(const std::string& path, const std::string& content, mode_t mode = 0644)
{
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  ::chmod(path.c_str(), mode);
}

inline std::string
read_file(const std::string& path)
{
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace pkgunify::test
