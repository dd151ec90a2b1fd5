// SPDX-License-Identifier: GPL-2.0-or-later
// Link mode reflink (core/engine/reflink_strategy.cpp): identical files keep
// their inodes and share their extents with the object, on a btrfs (or XFS)
// scratch filesystem.
#include "procutil.hpp"
#include "scan_fixture.hpp"
#include "sys/fd.hpp"
#include "sys/reflink.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

using namespace pkgunify;
using pkgunify::test::describe;
using pkgunify::test::inode_of;
using pkgunify::test::read_file;
using pkgunify::test::ScratchMount;
using pkgunify::test::write_fixed;

namespace {

// 128 KiB that no filesystem stores inline or compresses away; `seed`
// makes another content.
std::string
big_content(unsigned seed)
{
  std::string s(128 * 1024, '\0');
  std::uint32_t x = 2463534242u + seed;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return s;
}

class ReflinkStrategy : public ::testing::Test
{
protected:
  void
  SetUp() override
  {
    std::string why = m_mnt.mount("btrfs");
    if (!why.empty()) {
      m_mnt.unmount();
      if (const std::string xfs = m_mnt.mount("xfs"); !xfs.empty()) {
        GTEST_SKIP() << "no filesystem with shared extents: " << why << "; " << xfs;
      }
    }
    m_store.emplace(Store::open(at("store"), Store::Create::if_missing));
  }

  [[nodiscard]] std::string
  at(const std::string& rel) const
  {
    return m_mnt.path(rel);
  }

  [[nodiscard]] static ScanOptions
  options(bool dry_run = false)
  {
    ScanOptions opt;
    opt.link = LinkMode::reflink;
    opt.dry_run = dry_run;
    opt.jobs = 1;  // one worker: which file makes the object is the same every run
    return opt;
  }

  // A Unifier over `roots`, walked.
  std::unique_ptr<Unifier>
  unifier(const std::vector<std::string>& roots, const ScanOptions& opt)
  {
    auto u = std::make_unique<Unifier>(*m_store, opt, reporter);
    for (const auto& r : roots) {
      u->add_tree(u->add_root(at(r)));
    }
    return u;
  }

  ScanStats
  scan(const std::vector<std::string>& roots, const ScanOptions& opt)
  {
    return unifier(roots, opt)->run();
  }

  // The file's extents as FIEMAP reports them.
  [[nodiscard]] sys::ExtentSharing
  sharing(const std::string& rel) const
  {
    const sys::Fd fd(::open(at(rel).c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd.valid()) << rel;
    auto s = sys::extent_sharing(fd.get(), rel);
    EXPECT_TRUE(s) << s.error().message;
    return s ? *s : sys::ExtentSharing{};
  }

  void
  expect_all_shared(const std::string& rel) const
  {
    const sys::ExtentSharing s = sharing(rel);
    EXPECT_GT(s.extents, 0u) << rel;
    EXPECT_EQ(s.shared, s.extents) << rel;
  }

  [[nodiscard]] std::unordered_map<ino_t, std::string>
  objects() const
  {
    return m_store->object_paths_by_inode();
  }

  [[nodiscard]] std::size_t
  object_count() const
  {
    return objects().size();
  }

  pkgunify::test::CollectingReporter reporter;

private:
  ScratchMount m_mnt;
  std::optional<Store> m_store;
};

}  // namespace

TEST_F(ReflinkStrategy, IdenticalFilesShareAllExtentsAndKeepTheirInodes)
{
  const std::string a = big_content(1);
  const std::string b = big_content(2);
  write_fixed(at("g1/usr/lib/big"), a);
  write_fixed(at("g2/usr/lib/big"), a);
  write_fixed(at("g2/usr/lib/other"), b);
  const ino_t g1 = inode_of(at("g1/usr/lib/big"));
  const ino_t g2 = inode_of(at("g2/usr/lib/big"));
  ASSERT_EQ(sharing("g1/usr/lib/big").shared, 0u);
  const ScanStats s = scan({"g1", "g2"}, options());
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.linked, 3u) << describe(s);
  EXPECT_EQ(s.objects_created, 2u);
  EXPECT_EQ(object_count(), 2u);
  // Each file hashed once, each new object's clone once more; the worker
  // may clone a file whose object the committer is about to publish.
  EXPECT_GE(s.bytes_read, 3 * a.size() + 2 * b.size());
  EXPECT_LE(s.bytes_read, 2 * (2 * a.size() + b.size()));
  EXPECT_EQ(s.bytes_saved, static_cast<std::int64_t>(a.size()));
  expect_all_shared("g1/usr/lib/big");
  expect_all_shared("g2/usr/lib/big");
  expect_all_shared("g2/usr/lib/other");  // with its object
  EXPECT_EQ(inode_of(at("g1/usr/lib/big")), g1);
  EXPECT_EQ(inode_of(at("g2/usr/lib/big")), g2);
  EXPECT_EQ(read_file(at("g1/usr/lib/big")), a);
  EXPECT_EQ(read_file(at("g2/usr/lib/big")), a);
  EXPECT_EQ(read_file(at("g2/usr/lib/other")), b);
  // No file is a store object: the objects are inodes of their own.
  for (const auto& [ino, object] : objects()) {
    EXPECT_NE(ino, g1) << object;
    EXPECT_NE(ino, g2) << object;
  }
}

TEST_F(ReflinkStrategy, ASecondScanFindsThemLinkedAndReadsNothing)
{
  const std::string a = big_content(1);
  write_fixed(at("g1/usr/lib/big"), a);
  write_fixed(at("g2/usr/lib/big"), a);
  ASSERT_EQ(scan({"g1", "g2"}, options()).linked, 2u);
  const ScanStats s = scan({"g1", "g2"}, options());
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.already_linked, 2u) << describe(s);
  EXPECT_EQ(s.linked, 0u);
  EXPECT_EQ(s.objects_created, 0u);
  EXPECT_EQ(s.bytes_read, 0u);
  EXPECT_EQ(s.bytes_saved, 0);
  EXPECT_EQ(object_count(), 1u);
}

TEST_F(ReflinkStrategy, ADryRunChangesNothing)
{
  const std::string a = big_content(1);
  write_fixed(at("g1/usr/lib/big"), a);
  write_fixed(at("g2/usr/lib/big"), a);
  const ScanStats s = scan({"g1", "g2"}, options(true));
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.linked, 2u) << describe(s);
  EXPECT_EQ(s.objects_created, 1u);
  EXPECT_EQ(s.bytes_saved, static_cast<std::int64_t>(a.size()));
  EXPECT_EQ(object_count(), 0u);
  EXPECT_EQ(sharing("g1/usr/lib/big").shared, 0u);
  EXPECT_EQ(sharing("g2/usr/lib/big").shared, 0u);
  // What the dry run predicted, the real one does.
  const ScanStats real = scan({"g1", "g2"}, options());
  EXPECT_EQ(real.linked, s.linked) << describe(real);
  EXPECT_EQ(real.objects_created, s.objects_created);
  EXPECT_EQ(real.bytes_saved, s.bytes_saved);
}

TEST_F(ReflinkStrategy, AFileRewrittenAfterTheWalkIsNotSharedWrongly)
{
  const std::string a = big_content(1);
  const std::string b = big_content(2);
  for (const char* g : {"g1", "g2", "g3", "g4"}) {
    write_fixed(at(std::string(g) + "/usr/lib/big"), a);
  }
  auto u = unifier({"g1", "g2", "g3", "g4"}, options());
  // Between the walk and the hash: g3's file rewritten in place (its inode
  // and size stay), g4's replaced by another inode.
  {
    const sys::Fd fd(::open(at("g3/usr/lib/big").c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(fd.valid());
    ASSERT_EQ(::pwrite(fd.get(), b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
  }
  write_fixed(at("g4/usr/lib/big.new"), b);
  ASSERT_EQ(::rename(at("g4/usr/lib/big.new").c_str(), at("g4/usr/lib/big").c_str()), 0);
  const ScanStats s = u->run();
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.skipped, (std::map<std::string, std::uint64_t>{{"changed", 1}})) << describe(s);
  EXPECT_EQ(s.linked, 3u) << describe(s);
  EXPECT_EQ(s.objects_created, 2u);  // g3 has content of its own now
  EXPECT_EQ(read_file(at("g1/usr/lib/big")), a);
  EXPECT_EQ(read_file(at("g2/usr/lib/big")), a);
  EXPECT_EQ(read_file(at("g3/usr/lib/big")), b);
  EXPECT_EQ(read_file(at("g4/usr/lib/big")), b);
  expect_all_shared("g1/usr/lib/big");
  expect_all_shared("g2/usr/lib/big");
  EXPECT_EQ(sharing("g4/usr/lib/big").shared, 0u);
  // A later scan shares g4's file with g3's object.
  const ScanStats again = scan({"g1", "g2", "g3", "g4"}, options());
  EXPECT_EQ(again.linked, 1u) << describe(again);
  EXPECT_EQ(again.already_linked, 3u);
  EXPECT_EQ(read_file(at("g4/usr/lib/big")), b);
  expect_all_shared("g4/usr/lib/big");
}
