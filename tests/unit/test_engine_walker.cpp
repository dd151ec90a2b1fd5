// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/walker.hpp"
#include "sys/fs.hpp"
#include "testutil.hpp"

#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>

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

namespace {

// Records what walk_trees hands over, and checks that no two visitor calls
// overlap and that a directory is entered before its entries come.
class CheckingRecorder : public Recorder
{
public:
  explicit CheckingRecorder(std::atomic<int>& inside) : m_inside(inside) {}

  bool
  enter_dir(const std::string& dir, const struct stat& st) override
  {
    const Guard g(*this);
    if (dir == "/boom") {
      throw std::runtime_error("visitor failed in " + dir);
    }
    return Recorder::enter_dir(dir, st);
  }
  void
  entry(const std::string& dir, const std::string& name, const struct stat& st, std::uint64_t attributes) override
  {
    const Guard g(*this);
    if (!dirs.contains(dir)) {
      before_enter.push_back(dir);
    }
    ++calls[sys::child_path(dir, name)];
    Recorder::entry(dir, name, st, attributes);
  }

  std::map<std::string, int> calls;
  std::vector<std::string> before_enter;
  int overlaps = 0;

private:
  struct Guard
  {
    explicit Guard(CheckingRecorder& r) : rec(r)
    {
      if (rec.m_inside.fetch_add(1) != 0) {
        ++rec.overlaps;
      }
      std::this_thread::yield();  // let another thread try to come in meanwhile
    }
    ~Guard() { rec.m_inside.fetch_sub(1); }
    CheckingRecorder& rec;
  };
  std::atomic<int>& m_inside;
};

}  // namespace

// Several roots, four threads: every entry of every root once, a
// directory entered before its entries, one visitor call at a time, and a
// directory of more entries than one hand-over holds complete.
TEST_F(WalkerTest, ThreadsVisitEveryEntryOnceOneCallAtATime)
{
  constexpr int k_roots = 3;
  constexpr int k_dirs = 40;
  const std::size_t big = k_walk_chunk + 100;
  std::vector<sys::Fd> fds;
  std::vector<std::string> displays;
  for (int r = 0; r < k_roots; ++r) {
    for (int d = 0; d < k_dirs; ++d) {
      write_fixed(path("r" + std::to_string(r) + "/d" + std::to_string(d) + "/sub/f"), "x");
      write_fixed(path("r" + std::to_string(r) + "/d" + std::to_string(d) + "/g"), "y");
    }
    displays.push_back(path("r" + std::to_string(r)));
  }
  for (std::size_t i = 0; i < big; ++i) {
    write_fixed(path("r0/big/e" + std::to_string(i)), "");
  }
  std::atomic<int> inside{0};
  std::vector<std::unique_ptr<CheckingRecorder>> recs;
  std::vector<WalkRoot> roots;
  for (int r = 0; r < k_roots; ++r) {
    fds.emplace_back(::open(displays[r].c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    recs.push_back(std::make_unique<CheckingRecorder>(inside));
    roots.push_back({fds.back().get(), &displays[r], recs.back().get()});
  }
  walk_trees(roots, 4);
  for (int r = 0; r < k_roots; ++r) {
    const CheckingRecorder& rec = *recs[r];
    EXPECT_TRUE(rec.errors.empty());
    EXPECT_EQ(rec.overlaps, 0);
    EXPECT_TRUE(rec.before_enter.empty()) << rec.before_enter.front();
    EXPECT_EQ(rec.dirs.size(), 1u + 2u * k_dirs + (r == 0 ? 1u : 0u));
    EXPECT_EQ(rec.calls.size(), 2u * k_dirs + (r == 0 ? big : 0u));
    for (const auto& [p, n] : rec.calls) {
      EXPECT_EQ(n, 1) << p;
    }
    EXPECT_TRUE(rec.calls.contains("/d17/sub/f"));
  }
  EXPECT_EQ(recs[0]->calls.count("/big/e" + std::to_string(big - 1)), 1u);
}

// What a visitor throws stops the walk of every thread and comes out of
// walk_trees.
TEST_F(WalkerTest, WhatAVisitorThrowsStopsTheWalk)
{
  for (int d = 0; d < 50; ++d) {
    write_fixed(path("d" + std::to_string(d) + "/f"), "x");
  }
  std::filesystem::create_directories(path("boom"));
  sys::Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  for (unsigned threads : {1u, 4u}) {
    std::atomic<int> inside{0};
    CheckingRecorder rec(inside);
    try {
      walk_trees({WalkRoot{root.get(), &dir, &rec}}, threads);
      ADD_FAILURE() << "no exception with " << threads << " threads";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "visitor failed in /boom");
    }
    EXPECT_EQ(inside.load(), 0);
  }
}
