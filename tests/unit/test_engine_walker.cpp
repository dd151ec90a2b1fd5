// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/walker.hpp"
#include "sys/fs.hpp"
#include "testutil.hpp"

#include <unistd.h>

#include <map>
#include <set>

using namespace pkgunify;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class Recorder : public WalkVisitor
{
public:
  bool
  enter_dir(const std::string& dir, const struct stat& /*st*/) override
  {
    dirs.insert(dir);
    return dir != "/skip";
  }
  void
  entry(const std::string& dir, const std::string& name, const struct stat& st, std::uint64_t /*attributes*/) override
  {
    entries[sys::child_path(dir, name)] = st.st_mode & S_IFMT;
  }
  void
  mount_point(const std::string& path) override
  {
    mounts.insert(path);
  }
  void
  error(const std::string& message) override
  {
    errors.push_back(message);
  }

  std::set<std::string> dirs;
  std::map<std::string, mode_t> entries;
  std::set<std::string> mounts;
  std::vector<std::string> errors;
};

class WalkerTest : public TempDirTest
{
protected:
  Recorder
  walk()
  {
    sys::Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    Recorder r;
    walk_tree(root.get(), dir, r);
    return r;
  }
};

}  // namespace

TEST_F(WalkerTest, VisitsEveryEntryWithoutFollowingSymlinks)
{
  write_fixed(path("usr/bin/tool"), "x");
  write_fixed(path("etc/conf"), "y");
  write_fixed(path("skip/hidden"), "z");
  std::filesystem::create_directories(path("outside-target"));
  write_fixed(path("outside-target/secret"), "s");
  ASSERT_EQ(::symlink(path("outside-target").c_str(), path("usr/link").c_str()), 0);
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  const Recorder r = walk();
  EXPECT_TRUE(r.errors.empty());
  EXPECT_TRUE(r.dirs.contains("/"));
  EXPECT_TRUE(r.dirs.contains("/usr/bin"));
  EXPECT_TRUE(r.dirs.contains("/skip"));
  EXPECT_EQ(r.entries.at("/usr/bin/tool"), S_IFREG);
  EXPECT_EQ(r.entries.at("/etc/conf"), S_IFREG);
  EXPECT_EQ(r.entries.at("/usr/link"), S_IFLNK);  // seen, not followed
  EXPECT_EQ(r.entries.at("/fifo"), S_IFIFO);
  EXPECT_FALSE(r.entries.contains("/skip/hidden"));  // the visitor skipped the directory
  EXPECT_FALSE(r.entries.contains("/usr/link/secret"));
  EXPECT_TRUE(r.entries.contains("/outside-target/secret"));  // it is inside this root
  EXPECT_TRUE(r.mounts.empty());
}

TEST_F(WalkerTest, AMountInsideTheRootIsReportedNotEntered)
{
  if (::geteuid() != 0) {
    GTEST_SKIP() << "mounting a tmpfs needs root";
  }
  std::filesystem::create_directories(path("proc-like"));
  if (::system(("mount -t tmpfs none " + path("proc-like") + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here";
  }
  write_fixed(path("proc-like/inside"), "m");
  const Recorder r = walk();
  EXPECT_EQ(::system(("umount " + path("proc-like")).c_str()), 0);
  EXPECT_TRUE(r.mounts.contains("/proc-like"));
  EXPECT_FALSE(r.entries.contains("/proc-like/inside"));
}
