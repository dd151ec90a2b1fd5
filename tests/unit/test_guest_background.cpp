// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/background.hpp"
#include "testutil.hpp"

#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

using pkgunify::Command;
using pkgunify::test::TempDirTest;

namespace {

class BackgroundTest : public TempDirTest
{
protected:
  static bool
  exists(const std::string& p)
  {
    return ::access(p.c_str(), F_OK) == 0;
  }

  static void
  write(const std::string& p, const std::string& text)
  {
    std::ofstream(p) << text;
  }
};

}  // namespace

TEST_F(BackgroundTest, LockPathIsStablePerRealRoot)
{
  ASSERT_EQ(::mkdir(path("g1").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(path("g1").c_str(), path("alias").c_str()), 0);
  const std::string lock = pkgunify::hook_lock_path(path("g1"));
  EXPECT_TRUE(lock.starts_with("/run/pkgunify/hook-")) << lock;
  EXPECT_EQ(lock.size(), std::string("/run/pkgunify/hook-").size() + 16 + 5);
  EXPECT_EQ(pkgunify::hook_lock_path(path("g1")), lock);
  EXPECT_EQ(pkgunify::hook_lock_path(path("alias")), lock);  // the same root
  EXPECT_NE(pkgunify::hook_lock_path(path("g2")), lock);
}

TEST_F(BackgroundTest, RunCommandPassesInputAndEveryLine)
{
  Command c;
  c.argv = {"/bin/sh", "-c", "cat; echo; echo to stderr >&2; printf 'no newline'; exit 3"};
  c.input = "line one\nline two";
  std::vector<std::string> lines;
  const int rc = pkgunify::run_command(c, [&](std::string_view l) { lines.emplace_back(l); });
  EXPECT_EQ(rc, 3);
  EXPECT_EQ(lines, (std::vector<std::string>{"line one", "line two", "to stderr", "no newline"}));
}

TEST_F(BackgroundTest, RunCommandReportsWhatCannotRun)
{
  Command c;
  c.argv = {path("missing")};
  std::vector<std::string> lines;
  EXPECT_EQ(pkgunify::run_command(c, [&](std::string_view l) { lines.emplace_back(l); }), 127);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("cannot be executed"), std::string::npos) << lines[0];
  EXPECT_EQ(pkgunify::run_command(Command{}, [&](std::string_view) {}), -1);
}

// The worker starts once its gate is closed, holds the root's lock until it
// ends, and gets its input; wait_for_background waits for it.
TEST_F(BackgroundTest, WorkerStartsAtTheGateAndHoldsTheLock)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "the hook locks live in /run/pkgunify, which needs root";
  }
  Command c;
  c.argv = {"/bin/sh", "-c", "sleep 0.5; cat > " + path("got") + "; touch " + path("done")};
  c.input = "the list";
  auto gate = pkgunify::start_in_background(c, dir);
  ASSERT_TRUE(gate.valid());
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_FALSE(exists(path("got"))) << "the worker ran before its gate opened";
  // The lock is held: a second locker cannot get it.
  {
    pkgunify::sys::Fd probe(::open(pkgunify::hook_lock_path(dir).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(probe.valid());
    EXPECT_NE(::flock(probe.get(), LOCK_SH | LOCK_NB), 0);
  }
  gate.close();
  const auto start = std::chrono::steady_clock::now();
  pkgunify::wait_for_background(dir);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(400));
  EXPECT_TRUE(exists(path("done")));
  std::ifstream in(path("got"));
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "the list");
}

TEST_F(BackgroundTest, ACheckedConfigurationIsRememberedUntilItChanges)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "the memory of checks lives in /run/pkgunify, which needs root";
  }
  const std::string policy = path("policy.yaml");
  const std::string program = path("pkgunify");
  write(policy, "link: hardlink\n");
  write(program, "#!/bin/sh\n");
  EXPECT_FALSE(pkgunify::hook_config_checked(policy, program));
  pkgunify::remember_hook_config(policy, program);
  EXPECT_TRUE(pkgunify::hook_config_checked(policy, program));
  // Another program (an upgrade of pkgunify) is checked again.
  write(path("other"), "#!/bin/sh\n");
  EXPECT_FALSE(pkgunify::hook_config_checked(policy, path("other")));
  // So is an edited policy.
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  write(policy, "link: immutable\n");
  EXPECT_FALSE(pkgunify::hook_config_checked(policy, program));
  pkgunify::remember_hook_config(policy, program);
  EXPECT_TRUE(pkgunify::hook_config_checked(policy, program));
  ::unlink(policy.c_str());
  EXPECT_FALSE(pkgunify::hook_config_checked(policy, program));
}
