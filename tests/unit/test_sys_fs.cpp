// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/fs.hpp"
#include "sys/read.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;
namespace sys = pkgunify::sys;

namespace {

class UtilFs : public TempDirTest
{};

// Whether open_regular_beneath opens `rel` as the inode `want`, holding
// "content" (in a forked child: no gtest assertion).
bool
opens_content(int rootfd, const char* rel, ino_t want)
{
  auto fd = sys::open_regular_beneath(rootfd, rel, O_RDONLY, rel);
  struct stat st = {};
  char buf[16] = {};
  return fd && ::fstat(fd->get(), &st) == 0 && st.st_ino == want && ::read(fd->get(), buf, sizeof(buf)) == 7
         && std::string(buf) == "content";
}

}  // namespace

TEST_F(UtilFs, OpenBeneathOpensNestedFile)
{
  std::filesystem::create_directories(path("root/usr/bin"));
  write_fixed(path("root/usr/bin/x"), "hello");
  auto root = sys::open_host_dir(path("root"));
  ASSERT_TRUE(root);
  auto fd = sys::open_beneath(root->get(), "usr/bin/x", O_RDONLY, "x");
  ASSERT_TRUE(fd) << fd.error().message;
  char buf[8] = {};
  EXPECT_EQ(::read(fd->get(), buf, sizeof(buf)), 5);
  EXPECT_STREQ(buf, "hello");
}

TEST_F(UtilFs, OpenBeneathRefusesSymlinkInsideRoot)
{
  std::filesystem::create_directories(path("root/usr"));
  write_fixed(path("root/usr/real"), "x");
  std::filesystem::create_symlink("real", path("root/usr/link"));
  auto root = sys::open_host_dir(path("root"));
  ASSERT_TRUE(root);
  auto fd = sys::open_beneath(root->get(), "usr/link", O_RDONLY, "link");
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ELOOP);
}

TEST_F(UtilFs, OpenBeneathRefusesSymlinkedDirectoryLeadingOutside)
{
  std::filesystem::create_directories(path("root"));
  std::filesystem::create_directories(path("outside"));
  write_fixed(path("outside/secret"), "s");
  std::filesystem::create_directory_symlink(path("outside"), path("root/lib"));
  auto root = sys::open_host_dir(path("root"));
  ASSERT_TRUE(root);
  auto fd = sys::open_beneath(root->get(), "lib/secret", O_RDONLY, "lib/secret");
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ELOOP);
}

TEST_F(UtilFs, OpenBeneathRefusesDotDotEscape)
{
  std::filesystem::create_directories(path("root/usr"));
  write_fixed(path("secret"), "s");
  auto root = sys::open_host_dir(path("root"));
  ASSERT_TRUE(root);
  auto fd = sys::open_beneath(root->get(), "usr/../../secret", O_RDONLY, "secret");
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, EXDEV);
}

TEST_F(UtilFs, OpenBeneathAbsolutePathIsRelativeToRoot)
{
  std::filesystem::create_directories(path("root/etc"));
  write_fixed(path("root/etc/x"), "inside");
  auto root = sys::open_host_dir(path("root"));
  ASSERT_TRUE(root);
  auto fd = sys::open_beneath(root->get(), "/etc/x", O_RDONLY, "x");
  ASSERT_TRUE(fd) << fd.error().message;
  struct stat a;
  struct stat b;
  ASSERT_EQ(::fstat(fd->get(), &a), 0);
  ASSERT_EQ(::stat(path("root/etc/x").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(UtilFs, OpenBeneathErrorNamesDisplayPath)
{
  std::filesystem::create_directories(path("root"));
  auto root = sys::open_host_dir(path("root"));
  ASSERT_TRUE(root);
  auto fd = sys::open_beneath(root->get(), "missing", O_RDONLY, "/guests/g1/missing");
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ENOENT);
  EXPECT_NE(fd.error().message.find("/guests/g1/missing"), std::string::npos);
}

TEST_F(UtilFs, OpenNoSymlinksRefusesSymlinkComponent)
{
  std::filesystem::create_directories(path("real"));
  write_fixed(path("real/f"), "x");
  std::filesystem::create_directory_symlink(path("real"), path("link"));
  EXPECT_TRUE(sys::open_no_symlinks(path("real/f"), O_RDONLY));
  auto fd = sys::open_no_symlinks(path("link/f"), O_RDONLY);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ELOOP);
  EXPECT_NE(fd.error().message.find("symlink"), std::string::npos);
}

TEST_F(UtilFs, WriteFileAtomicReplacesContent)
{
  auto d = sys::open_host_dir(dir);
  ASSERT_TRUE(d);
  ASSERT_TRUE(sys::write_file_atomic(d->get(), "f", "one", 0644, "f"));
  ASSERT_TRUE(sys::write_file_atomic(d->get(), "f", "two", 0644, "f"));
  auto content = sys::read_small_file_at(d->get(), "f", 4096, "f");
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, "two");
  // No temporary file is left behind.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

TEST_F(UtilFs, EnsureDirAcceptsExistingAndRejectsFile)
{
  auto d = sys::open_host_dir(dir);
  ASSERT_TRUE(d);
  EXPECT_TRUE(sys::ensure_dir_at(d->get(), "sub", 0700, "sub"));
  EXPECT_TRUE(sys::ensure_dir_at(d->get(), "sub", 0700, "sub"));
  write_fixed(path("file"), "x");
  auto r = sys::ensure_dir_at(d->get(), "file", 0700, "file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOTDIR);
}

TEST_F(UtilFs, LinkFdAtLinksTmpfile)
{
  auto d = sys::open_host_dir(dir);
  ASSERT_TRUE(d);
  sys::Fd tmp(::openat(d->get(), ".", O_TMPFILE | O_RDWR, 0600));
  ASSERT_TRUE(tmp);
  ASSERT_TRUE(sys::write_all(tmp.get(), "abc", 3, "tmp"));
  ASSERT_TRUE(sys::link_fd_at(tmp.get(), d->get(), "named", "named"));
  auto again = sys::link_fd_at(tmp.get(), d->get(), "named", "named");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  auto content = sys::read_small_file_at(d->get(), "named", 4096, "named");
  ASSERT_TRUE(content);
  EXPECT_EQ(*content, "abc");
}

// A child of fork() must reopen through its own /proc/self/fd, not the one
// its parent cached (that one names the parent's descriptors): here the
// parent's descriptor of the same number is another file.
TEST_F(UtilFs, OpenRegularInAForkedChildOpensTheChildsFile)
{
  write_fixed(path("file"), "content");
  write_fixed(path("decoy"), "decoy");
  const ino_t want = pkgunify::test::inode_of(path("file"));
  auto d = sys::open_host_dir(dir);
  ASSERT_TRUE(d);
  ASSERT_GE(sys::proc_self_fd_dir(), 0);  // cached by the parent
  int go[2];
  ASSERT_EQ(::pipe2(go, O_CLOEXEC), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    char c;
    if (::read(go[0], &c, 1) != 1) {
      ::_exit(10);
    }
    ::_exit(opens_content(d->get(), "file", want) ? 0 : 11);
  }
  // The lowest free number, the one the child's O_PATH descriptor gets.
  const int decoy = ::open(path("decoy").c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(decoy, 0);
  EXPECT_EQ(::write(go[1], "x", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(decoy);
  ::close(go[0]);
  ::close(go[1]);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Inside a chroot into a guest (the rpm plugin's file hooks), /proc is the
// guest's. Here it is a tree whose fd/N are symlinks to a FIFO: the open
// must neither follow them (and block) nor open anything but the file.
TEST_F(UtilFs, OpenRegularInAChrootNeverUsesTheGuestsProc)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "chroot needs root";
  }
  const std::string root = path("guest");
  std::filesystem::create_directories(root + "/proc/self/fd");
  std::filesystem::create_directories(root + "/usr");
  ASSERT_EQ(::mkfifo((root + "/fifo").c_str(), 0600), 0);
  write_fixed(root + "/usr/file", "content");
  for (int n = 0; n < 1024; ++n) {
    std::filesystem::create_symlink("/fifo", root + "/proc/self/fd/" + std::to_string(n));
  }
  const ino_t want = pkgunify::test::inode_of(root + "/usr/file");
  ASSERT_GE(sys::proc_self_fd_dir(), 0);  // the host's, cached by the parent
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(20);
    if (::chroot(root.c_str()) != 0 || ::chdir("/") != 0) {
      ::_exit(10);
    }
    auto rootfd = sys::open_host_dir("/");
    if (!rootfd) {
      ::_exit(11);
    }
    if (!opens_content(rootfd->get(), "usr/file", want)) {
      ::_exit(12);
    }
    ::_exit(sys::proc_self_fd_dir() < 0 ? 0 : 13);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status)
                                 << " (SIGALRM: the open blocked on the guest's FIFO)";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(UtilFs, ReadFullStopsAtEof)
{
  write_fixed(path("f"), "12345");
  sys::Fd fd(::open(path("f").c_str(), O_RDONLY));
  char buf[16];
  auto n = sys::read_full(fd.get(), buf, sizeof(buf), "f");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 5u);
}

TEST(UtilFsPure, JoinDisplay)
{
  EXPECT_EQ(sys::join_display("/g", "/usr/x"), "/g/usr/x");
  EXPECT_EQ(sys::join_display("/g/", "/usr/x"), "/g/usr/x");
  EXPECT_EQ(sys::join_display("/g", "usr"), "/g/usr");
  EXPECT_EQ(sys::join_display("/g", "/"), "/g");
  EXPECT_EQ(sys::join_display("g", "."), "g");
}

TEST(UtilFsPure, RandomHexHasLengthAndVaries)
{
  const auto a = sys::random_hex(8);
  const auto b = sys::random_hex(8);
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
}

TEST(UtilFsPure, SameFileStateComparesInodeSizeMtimeCtime)
{
  struct stat a = {};
  a.st_ino = 1;
  a.st_size = 10;
  a.st_mtim = {5, 6};
  a.st_ctim = {7, 8};
  struct stat b = a;
  EXPECT_TRUE(sys::same_file_state(a, b));
  b.st_ctim.tv_nsec = 9;
  EXPECT_FALSE(sys::same_file_state(a, b));
  b = a;
  b.st_size = 11;
  EXPECT_FALSE(sys::same_file_state(a, b));
  b = a;
  b.st_ino = 2;
  EXPECT_FALSE(sys::same_file_state(a, b));
}

TEST(ChildPath, JoinsWithOneSlash)
{
  EXPECT_EQ(sys::child_path("/", "usr"), "/usr");
  EXPECT_EQ(sys::child_path("/usr", "bin"), "/usr/bin");
}

TEST_F(UtilFs, StatEntryReportsImmutableAttribute)
{
  write_fixed(path("f"), "x");
  sys::Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  struct stat st = {};
  std::uint64_t attributes = ~0ULL;
  ASSERT_EQ(sys::stat_entry(d.get(), "f", st, attributes), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_FALSE(attributes & STATX_ATTR_IMMUTABLE);
  EXPECT_EQ(sys::stat_entry(d.get(), "missing", st, attributes), -1);
  EXPECT_EQ(errno, ENOENT);
}
