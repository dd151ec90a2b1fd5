// SPDX-License-Identifier: GPL-2.0-or-later
// The scan pipeline (core/engine/pipeline.cpp): worker threads prepare the
// candidates in inode order, one committer links them, within a descriptor
// budget, reporting progress. Through the public Unifier, on trees large
// enough that the queue, the batches and the syncfs budget all fill up.
#include "scan_fixture.hpp"
#include "sys/fs.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <filesystem>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace pkgunify;
using pkgunify::test::describe;
using pkgunify::test::ScanTest;
using pkgunify::test::write_fixed;

namespace {

constexpr int k_roots = 4;
constexpr int k_files = 600;     // per root
constexpr int k_contents = 200;  // distinct contents
constexpr int k_link_every = 8;  // every 8th file has a second name in its root

std::string
content(int k)
{
  std::string s = "content " + std::to_string(k) + ";";
  s.resize(16 + static_cast<std::size_t>(k * 37 % 2000), static_cast<char>('a' + k % 26));
  return s;
}

// What make_trees made.
struct Trees
{
  std::vector<std::string> roots;
  std::uint64_t names = 0;
  std::uint64_t inode_bytes = 0;   // the sizes of the distinct inodes
  std::uint64_t object_bytes = 0;  // the sizes of the distinct contents
};

// k_roots roots below `dir` of k_files files each, over k_contents contents,
// spread over 20 directories; every k_link_every-th file has a second name.
Trees
make_trees(const std::string& dir, const std::string& rel)
{
  Trees t;
  for (int k = 0; k < k_contents; ++k) {
    t.object_bytes += content(k).size();
  }
  for (int r = 0; r < k_roots; ++r) {
    const std::string root = rel + "/r" + std::to_string(r);
    t.roots.push_back(root);
    std::filesystem::create_directories(dir + "/" + root + "/usr/lib");
    for (int i = 0; i < k_files; ++i) {
      const std::string file = dir + "/" + root + "/usr/share/d" + std::to_string(i % 20) + "/f" + std::to_string(i);
      const std::string c = content((i * 3 + r) % k_contents);
      write_fixed(file, c);
      t.inode_bytes += c.size();
      ++t.names;
      if (i % k_link_every == 0) {
        EXPECT_EQ(::link(file.c_str(), (dir + "/" + root + "/usr/lib/h" + std::to_string(i)).c_str()), 0);
        ++t.names;
      }
    }
  }
  return t;
}

class Pipeline : public ScanTest
{
protected:
  ScanOptions
  options(unsigned jobs) const
  {
    ScanOptions opt;
    opt.link = LinkMode::hardlink;
    opt.jobs = jobs;
    return opt;
  }

  // What a first scan of make_trees() must do, whatever the jobs.
  static void
  expect_first_scan(const ScanStats& s, const Trees& t)
  {
    EXPECT_EQ(s.errors, 0u) << describe(s);
    EXPECT_EQ(s.candidates, t.names);
    EXPECT_EQ(s.linked, t.names);
    EXPECT_EQ(s.already_linked, 0u);
    EXPECT_EQ(s.objects_created, static_cast<std::uint64_t>(k_contents));
    EXPECT_EQ(s.bytes_read, t.inode_bytes);
    EXPECT_EQ(s.bytes_saved, static_cast<std::int64_t>(t.inode_bytes - t.object_bytes));
    EXPECT_TRUE(s.skipped.empty()) << describe(s);
  }

  // Every name is linked to an object.
  static void
  expect_all_linked(const std::map<std::string, std::string>& objects, const Trees& t)
  {
    EXPECT_EQ(objects.size(), t.names);
    std::set<std::string> distinct;
    std::vector<std::string> unlinked;
    for (const auto& [file, object] : objects) {
      if (object.empty()) {
        unlinked.push_back(file);
      } else {
        distinct.insert(object);
      }
    }
    EXPECT_TRUE(unlinked.empty()) << unlinked.size() << " files are linked to no object, the first "
                                  << unlinked.front();
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(k_contents));
  }

  // A first scan of make_trees() with the soft descriptor limit lowered to
  // `limit` links every file, without an error.
  void expect_all_linked_with_limit(rlim_t limit, unsigned jobs);
};

// Restores the descriptor limit it lowered.
class DescriptorLimit
{
public:
  explicit DescriptorLimit(rlim_t soft)
  {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &m_saved), 0);
    struct rlimit low = m_saved;
    low.rlim_cur = std::min(soft, m_saved.rlim_max);
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  }
  DescriptorLimit(const DescriptorLimit&) = delete;
  DescriptorLimit& operator=(const DescriptorLimit&) = delete;
  ~DescriptorLimit() { ::setrlimit(RLIMIT_NOFILE, &m_saved); }

private:
  struct rlimit m_saved = {};
};

void
Pipeline::expect_all_linked_with_limit(rlim_t limit, unsigned jobs)
{
  const Trees t = make_trees(base, "low");
  ScanStats s;
  {
    const DescriptorLimit lowered(limit);
    s = scan(t.roots, options(jobs), "low/store");
  }
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.size() << " errors, the first: " << reporter.errors.front();
  expect_first_scan(s, t);
  expect_all_linked(linked_objects(t.roots, "low/store"), t);
}

}  // namespace

TEST_F(Pipeline, OneTwoAndEightJobsGiveIdenticalResults)
{
  std::map<unsigned, std::string> stats;
  std::map<unsigned, std::map<std::string, std::string>> objects;
  for (const unsigned jobs : {1u, 2u, 8u}) {
    const std::string rel = "j" + std::to_string(jobs);
    const Trees t = make_trees(base, rel);
    const ScanStats s = scan(t.roots, options(jobs), rel + "/store");
    expect_first_scan(s, t);
    stats[jobs] = describe(s);
    // Relative to the run's own directory, comparable across runs.
    for (const auto& [file, object] : linked_objects(t.roots, rel + "/store")) {
      objects[jobs][file.substr(rel.size() + 1)] = object;
    }
    expect_all_linked(objects[jobs], t);
  }
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(stats[2], stats[1]);
  EXPECT_EQ(stats[8], stats[1]);
  EXPECT_TRUE(objects[2] == objects[1]);
  EXPECT_TRUE(objects[8] == objects[1]);
}

// The store alone holds its 256 fan-out directories open; a soft limit of
// 600 leaves a descriptor budget (and so syncfs batches) of a few files.
TEST_F(Pipeline, ALowDescriptorLimitStillLinksEverything)
{
  expect_all_linked_with_limit(600, 2);
}

TEST_F(Pipeline, EightJobsAtALowDescriptorLimitStillLinkEverything)
{
  expect_all_linked_with_limit(500, 8);
}

// The descriptor budget bounded the files that wait for a syncfs, but not
// the work queue (32 per job) nor the batch the committer holds (up to 256
// prepared files, each with its file open), and its reserve of 512 did not
// count the store's own 260 descriptors: with 8 jobs (the default on an
// 8-core machine) and the usual soft limit of 1024, about 400 of these 2700
// files failed with "Too many open files". Now one budget covers all three.
TEST_F(Pipeline, EightJobsAtTheUsualLimitOf1024StillLinkEverything)
{
  expect_all_linked_with_limit(1024, 8);
}

// The committer hands the files it is done with to a thread that closes
// them (the last close of a replaced guest inode frees it): by the time the
// run returns, every one is closed and its space free.
TEST_F(Pipeline, EveryReplacedFileIsClosedAndFreedWhenTheRunReturns)
{
  const Trees t = make_trees(base, "c");
  const Store store = Store::open(at("c/store"), Store::Create::if_missing);
  Unifier u(store, options(4), reporter);
  for (const auto& r : t.roots) {
    u.add_tree(u.add_root(at(r)));
  }
  ASSERT_GE(sys::proc_self_fd_dir(), 0);  // opened once, and kept
  // What the process holds open, but the store's directory (the run holds
  // its lock there until the Unifier ends).
  auto open_files = [&] {
    std::multiset<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      if (const std::string file = std::filesystem::read_symlink(e.path(), ec).string(); file != at("c/store")) {
        out.insert(file);
      }
    }
    return out;
  };
  // The blocks of the guests' distinct inodes, and the filesystem's.
  auto guest_blocks = [&] {
    std::map<ino_t, blkcnt_t> inodes;
    for (const auto& [file, object] : linked_objects(t.roots, "c/store")) {
      struct stat st = {};
      EXPECT_EQ(::lstat(at(file).c_str(), &st), 0);
      inodes[st.st_ino] = st.st_blocks;
    }
    blkcnt_t sum = 0;
    for (const auto& [ino, blocks] : inodes) {
      sum += blocks;
    }
    return sum;
  };
  auto used_blocks = [&] {
    struct statvfs v = {};
    EXPECT_EQ(::statvfs(base.c_str(), &v), 0);
    return static_cast<blkcnt_t>((v.f_blocks - v.f_bfree) * (v.f_frsize / 512));
  };
  const auto files = open_files();
  const blkcnt_t before = guest_blocks();
  const blkcnt_t used = used_blocks();
  const ScanStats s = u.run();
  expect_first_scan(s, t);
  EXPECT_EQ(open_files(), files);
  const blkcnt_t after = guest_blocks();  // the objects' now
  EXPECT_LT(after, before);
  if (on_tmpfs) {  // nothing else uses that filesystem
    EXPECT_EQ(used_blocks(), used - before + after);
  }
}

TEST_F(Pipeline, ProgressEndsWithEveryCandidateDone)
{
  const Trees t = make_trees(base, "p");
  struct Call
  {
    std::uint64_t done;
    std::uint64_t total;
    std::uint64_t linked;
  };
  std::vector<Call> calls;
  ScanOptions opt = options(2);
  opt.progress = [&](const ScanStats& s, std::uint64_t done, std::uint64_t total) {
    calls.push_back({done, total, s.linked});
  };
  for (const std::uint64_t expect_linked : {t.names, std::uint64_t{0}}) {
    calls.clear();
    const ScanStats s = scan(t.roots, opt, "p/store");
    ASSERT_FALSE(calls.empty());
    EXPECT_EQ(calls.back().done, s.candidates);
    EXPECT_EQ(calls.back().total, s.candidates);
    EXPECT_EQ(calls.back().linked, expect_linked);
    EXPECT_EQ(s.linked, expect_linked);
    for (std::size_t i = 0; i < calls.size(); ++i) {
      EXPECT_EQ(calls[i].total, t.names) << "call " << i;
      EXPECT_LE(calls[i].done, calls[i].total) << "call " << i;
      if (i > 0) {
        EXPECT_GE(calls[i].done, calls[i - 1].done) << "call " << i;
      }
    }
  }
}

TEST_F(Pipeline, ProgressOfAScanWithNothingToDo)
{
  std::filesystem::create_directories(at("empty/usr"));
  std::vector<std::uint64_t> done_total;
  ScanOptions opt = options(8);
  opt.progress = [&](const ScanStats&, std::uint64_t done, std::uint64_t total) {
    done_total.push_back(done);
    done_total.push_back(total);
  };
  const ScanStats s = scan({"empty"}, opt);
  EXPECT_EQ(s.candidates, 0u);
  EXPECT_EQ(done_total, (std::vector<std::uint64_t>{0, 0}));
}

// All names of one inode form one group, read once, whichever root they
// are in and however many workers there are.
TEST_F(Pipeline, EveryInodeIsReadOnceForAllItsNames)
{
  write_fixed(at("a/usr/bin/five"), std::string(10000, '5'));
  for (const char* name : {"a/usr/bin/five.2", "a/usr/lib/five.3", "a/usr/lib/five.4", "b/usr/bin/five.5"}) {
    std::filesystem::create_directories(std::filesystem::path(at(name)).parent_path());
    ASSERT_EQ(::link(at("a/usr/bin/five").c_str(), at(name).c_str()), 0);
  }
  write_fixed(at("b/usr/bin/three"), std::string(3000, '3'));
  for (const char* name : {"b/usr/bin/three.2", "b/usr/share/three.3"}) {
    std::filesystem::create_directories(std::filesystem::path(at(name)).parent_path());
    ASSERT_EQ(::link(at("b/usr/bin/three").c_str(), at(name).c_str()), 0);
  }
  write_fixed(at("a/usr/bin/one"), std::string(700, '1'));
  // Same content as "five", another inode: read on its own.
  write_fixed(at("b/usr/bin/five-copy"), std::string(10000, '5'));
  const ScanStats s = scan({"a", "b"}, options(8));
  EXPECT_EQ(s.errors, 0u) << describe(s);
  EXPECT_EQ(s.candidates, 10u);
  EXPECT_EQ(s.linked, 10u);
  EXPECT_EQ(s.objects_created, 3u);
  EXPECT_EQ(s.bytes_read, 10000u + 3000u + 700u + 10000u);
  const auto objects = linked_objects({"a", "b"});
  EXPECT_EQ(objects.at("b/usr/bin/five-copy"), objects.at("a/usr/bin/five"));
  EXPECT_EQ(objects.at("b/usr/bin/five.5"), objects.at("a/usr/bin/five"));
}

// Memory is bounded by the batch, not by the trees: a scan of 2,400 names
// in batches of 200 runs each batch once it is full (ScanStats::batches,
// largest_batch), and links exactly what one batch would, reading each
// inode once: the two names of a hard-linked file wait in the batch of
// files of several links until both are found.
TEST_F(Pipeline, BatchesOfBoundedSizeLinkWhatOneBatchWould)
{
  const Trees t = make_trees(base, "b");
  ScanOptions opt = options(2);
  opt.batch_size = 200;
  const ScanStats s = scan(t.roots, opt, "b/store");
  expect_first_scan(s, t);
  expect_all_linked(linked_objects(t.roots, "b/store"), t);
  EXPECT_GE(s.batches, t.names / 400) << describe(s);
  EXPECT_LE(s.largest_batch, 2 * opt.batch_size) << describe(s);
  EXPECT_GT(s.largest_batch, 0u);
  // A second scan keeps nothing: the walk counts each link to its object.
  const ScanStats again = scan(t.roots, opt, "b/store");
  EXPECT_EQ(again.already_linked, t.names) << describe(again);
  EXPECT_EQ(again.batches, 0u);
  EXPECT_EQ(again.largest_batch, 0u);
  EXPECT_EQ(again.bytes_read, 0u);
}

// Batches too small to hold both names of a hard-linked file: its names
// are linked in two batches (the inode read in each), to the same object,
// and the space is saved all the same.
TEST_F(Pipeline, AHardLinkSplitOverTwoBatchesIsLinkedToOneObject)
{
  const Trees t = make_trees(base, "s");
  ScanOptions opt = options(2);
  opt.batch_size = 10;
  const ScanStats s = scan(t.roots, opt, "s/store");
  EXPECT_EQ(s.errors, 0u) << describe(s);
  EXPECT_EQ(s.linked, t.names);
  EXPECT_EQ(s.objects_created, static_cast<std::uint64_t>(k_contents));
  EXPECT_GE(s.bytes_read, t.inode_bytes);
  EXPECT_EQ(s.bytes_saved, static_cast<std::int64_t>(t.inode_bytes - t.object_bytes)) << describe(s);
  EXPECT_LE(s.largest_batch, 2 * opt.batch_size) << describe(s);
  expect_all_linked(linked_objects(t.roots, "s/store"), t);
}
