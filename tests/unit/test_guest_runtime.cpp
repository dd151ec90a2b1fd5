// SPDX-License-Identifier: GPL-2.0-or-later
// The runtime directory: inode locks with bounded waits, the lift journal and
// what the next run does with a killed run's records (issue #15, items 3
// and 8).
#include "fake_vserver.hpp"
#include "guest/protection.hpp"
#include "guest/runtime.hpp"
#include "sys/signals.hpp"
#include "testutil.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class RuntimeTest : public TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    if (::geteuid() != 0) {
      GTEST_SKIP() << "the runtime directory and the immutable flag need root";
    }
    ASSERT_TRUE(prepare_runtime_dir());
  }

  // "f", protected (real flag), open O_RDONLY in `fd`; "" or why not.
  std::string
  protected_file(Protector& p, sys::Fd& fd)
  {
    write_fixed(path("f"), "shared");
    fd = sys::Fd(::open(path("f").c_str(), O_RDONLY));
    auto set = p.protect(fd.get(), "f");
    return set ? "" : "no immutable flag under /tmp: " + set.error().message;
  }

  static Protection
  state_of(Protector& p, int fd)
  {
    auto s = p.state(fd, "f");
    return s ? *s : Protection::none;
  }

  static void
  unprotect(Protector& p, int fd)
  {
    if (auto g = p.lift(fd, "f")) {
      g->leave_lifted();
    }
  }

  // Journal files of process `pid`.
  static int
  journal_files_of(pid_t pid)
  {
    int n = 0;
    DIR* d = ::opendir((runtime_dir_path() + "/lifted").c_str());
    while (const dirent* e = d ? ::readdir(d) : nullptr) {
      n += std::string(e->d_name).starts_with(std::to_string(pid) + "-") ? 1 : 0;
    }
    if (d != nullptr) {
      ::closedir(d);
    }
    return n;
  }
};

}  // namespace

TEST_F(RuntimeTest, TheDirectoryIsPrivate)
{
  for (const char* sub : {"", "/locks", "/lifted"}) {
    struct stat st;
    ASSERT_EQ(::lstat((runtime_dir_path() + sub).c_str(), &st), 0) << sub;
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_mode & 022, 0u) << sub;
  }
}

// Another run holds the inode's lock (it has the inode lifted): the wait is
// bounded and the error says what it waited for.
TEST_F(RuntimeTest, TheInodeLockWaitIsBoundedAndNamesTheLock)
{
  write_fixed(path("f"), "x");
  struct stat st;
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
  int ready[2];
  int done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  // The parent has the inode's lock file open already: the child must not
  // share its open file description (and so its flock) but open its own.
  ASSERT_TRUE(InodeLock::acquire(st, "f"));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(30);  // never left waiting if the parent gives up
    ::close(done[1]);
    auto lock = InodeLock::acquire(st, "f");
    (void)!::write(ready[1], lock ? "y" : "n", 1);
    char b;
    (void)!::read(done[0], &b, 1);
    ::_exit(0);
  }
  char b = 0;
  ASSERT_EQ(::read(ready[0], &b, 1), 1);
  ASSERT_EQ(b, 'y');
  const auto start = std::chrono::steady_clock::now();
  auto waited = InodeLock::acquire(st, "f", std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, ETIMEDOUT);
  EXPECT_NE(waited.error().message.find("another pkgunify run"), std::string::npos) << waited.error().message;
  EXPECT_NE(waited.error().message.find("/locks/inode-"), std::string::npos) << waited.error().message;
  EXPECT_LT(took, std::chrono::seconds(5));
  (void)!::write(done[1], "x", 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(InodeLock::acquire(st, "f", std::chrono::milliseconds(2000)));
  for (int fd : {ready[0], ready[1], done[0], done[1]}) {
    ::close(fd);
  }
}

// kill -9 inside a lift window: the inode stays unprotected, and the next
// run of any kind (recover_lifted, which every pkgunify run calls first)
// protects it again from the journal.
TEST_F(RuntimeTest, AKilledRunsLiftIsProtectedAgainByTheNextRun)
{
  test::FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  sys::Fd fd;
  if (auto why = protected_file(p, fd); !why.empty()) {
    GTEST_SKIP() << why;
  }
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sys::Fd own(::open(path("f").c_str(), O_RDONLY));
    auto g = p.lift(own.get(), "f");
    (void)!::write(ready[1], g ? "y" : "n", 1);
    ::pause();
    ::_exit(0);
  }
  char b = 0;
  ASSERT_EQ(::read(ready[0], &b, 1), 1);
  ASSERT_EQ(b, 'y');
  EXPECT_EQ(state_of(p, fd.get()), Protection::none);
  EXPECT_EQ(journal_files_of(child), 1);
  CollectingReporter live;
  recover_lifted(live);
  EXPECT_EQ(state_of(p, fd.get()), Protection::none) << "a live run's lift is left alone";
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  CollectingReporter reporter;
  EXPECT_GE(recover_lifted(reporter), 1u);
  EXPECT_EQ(state_of(p, fd.get()), Protection::immutable);
  EXPECT_EQ(journal_files_of(child), 0);
  bool said = false;
  for (const auto& w : reporter.warnings) {
    said =
      said || (w.find(path("f")) != std::string::npos || w.find("protected (immutable) again") != std::string::npos);
  }
  EXPECT_TRUE(said);
  ::close(ready[0]);
  ::close(ready[1]);
  unprotect(p, fd.get());
}

// SIGTERM inside a lift window waits until the protection is back, then the
// process exits with 128 + 15; outside windows it ends the process at once.
TEST_F(RuntimeTest, TerminationWaitsUntilTheProtectionIsBack)
{
  test::FakeVserverKernel vs(false);
  Protector p(LinkMode::immutable, vs);
  sys::Fd fd;
  if (auto why = protected_file(p, fd); !why.empty()) {
    GTEST_SKIP() << why;
  }
  int ready[2];
  int report[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(report), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    sys::defer_termination_signals();
    sys::Fd own(::open(path("f").c_str(), O_RDONLY));
    auto g = p.lift(own.get(), "f");
    (void)!::write(ready[1], g ? "y" : "n", 1);
    ::usleep(500000);  // SIGTERM arrives meanwhile
    const char seen = sys::pending_termination_signal() == SIGTERM ? 's' : '-';
    (void)!::write(report[1], &seen, 1);
    (void)g->restore();  // closes the window: exits here
    ::_exit(0);
  }
  char b = 0;
  ASSERT_EQ(::read(ready[0], &b, 1), 1);
  ASSERT_EQ(b, 'y');
  ASSERT_EQ(::kill(child, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of waiting";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  ASSERT_EQ(::read(report[0], &b, 1), 1);
  EXPECT_EQ(b, 's');
  EXPECT_EQ(state_of(p, fd.get()), Protection::immutable);
  CollectingReporter after;
  recover_lifted(after);  // the record was cleared before the exit: nothing to restore
  EXPECT_TRUE(after.errors.empty());
  EXPECT_EQ(journal_files_of(child), 0);

  const pid_t idle = ::fork();
  ASSERT_GE(idle, 0);
  if (idle == 0) {
    sys::defer_termination_signals();
    ::raise(SIGINT);
    ::_exit(0);
  }
  ASSERT_EQ(::waitpid(idle, &status, 0), idle);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGINT);
  for (int f : {ready[0], ready[1], report[0], report[1]}) {
    ::close(f);
  }
  unprotect(p, fd.get());
}

// A runtime directory that others may write to is refused, naming it: a
// local user could otherwise plant locks or journal records.
TEST(RuntimeDir, ANonPrivateDirectoryIsRefused)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "the runtime directory must be root's";
  }
  char tmpl[] = "/tmp/pkgunify-unit.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = std::string(tmpl) + "/run";
  ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setenv("PKGUNIFY_RUNTIME_DIR", dir.c_str(), 1);
    if (runtime_dir_path() != dir) {
      ::_exit(77);  // this process read the environment before
    }
    auto r = prepare_runtime_dir();
    ::_exit(!r && r.error().message.find(dir + ": not private") != std::string::npos ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  std::filesystem::remove_all(tmpl);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    GTEST_SKIP() << "the runtime directory's path was read before this test (run it on its own)";
  }
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
