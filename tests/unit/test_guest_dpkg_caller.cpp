// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/dpkg_caller.hpp"

#include <gtest/gtest.h>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <iterator>
#include <string>

using namespace pkgunify;

namespace {

// What a process below this one finds, `levels` generations down (1: a
// child), passed back through a pipe: "pid\ncwd\nargc\n" or "none\n".
std::string
found_below(int levels, int depth)
{
  int fds[2];
  if (::pipe(fds) != 0) {
    return "pipe failed";
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    // A fork keeps the name: the processes between are called sh, as
    // between dpkg and its hook.
    ::prctl(PR_SET_NAME, "sh");
    for (int i = 1; i < levels; ++i) {
      const pid_t inner = ::fork();
      if (inner != 0) {
        int status = 0;
        ::waitpid(inner, &status, 0);
        ::_exit(0);
      }
    }
    const auto caller = find_dpkg_caller(depth);
    const std::string out =
      caller ? std::to_string(caller->pid) + "\n" + caller->cwd + "\n" + std::to_string(caller->argv.size()) + "\n"
             : "none\n";
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) {
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return got;
}

// This process under the name dpkg (/proc/PID/comm) while it lives.
class NamedDpkg
{
public:
  NamedDpkg()
  {
    char name[17] = {};
    ::prctl(PR_GET_NAME, name);
    m_name = name;
    ::prctl(PR_SET_NAME, "dpkg");
  }
  NamedDpkg(const NamedDpkg&) = delete;
  NamedDpkg& operator=(const NamedDpkg&) = delete;
  ~NamedDpkg() { ::prctl(PR_SET_NAME, m_name.c_str()); }

private:
  std::string m_name;
};

std::size_t
own_argc()
{
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return static_cast<std::size_t>(std::count(all.begin(), all.end(), '\0'));
}

}  // namespace

TEST(DpkgCaller, NoneWithoutDpkgAbove)
{
  EXPECT_EQ(found_below(1, 6), "none\n");
  EXPECT_EQ(find_dpkg_caller(), std::nullopt);
}

TEST(DpkgCaller, TheNearestProcessCalledDpkgWithItsArgumentsAndDirectory)
{
  char cwd[PATH_MAX];
  ASSERT_NE(::getcwd(cwd, sizeof(cwd)), nullptr);
  const std::string expected = std::to_string(::getpid()) + "\n" + cwd + "\n" + std::to_string(own_argc()) + "\n";
  NamedDpkg named;
  EXPECT_EQ(found_below(1, 6), expected) << "the parent";
  EXPECT_EQ(found_below(2, 6), expected) << "dpkg -> sh -> hook: the parent's parent";
  EXPECT_EQ(found_below(3, 2), "none\n") << "no further up than the depth";
}
