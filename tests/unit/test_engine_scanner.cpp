#include "engine/scanner.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <sys/stat.h>
#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::CollectingReporter;
using pkgunify::test::inode_of;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

struct stat
regular(std::uint64_t size)
{
  struct stat st = {};
  st.st_mode = S_IFREG | 0644;
  st.st_size = static_cast<off_t>(size);
  return st;
}

class ScannerTest : public TempDirTest
{
protected:
  ScanStats
  scan(const std::vector<std::string>& roots, LinkMode mode = LinkMode::hardlink, bool dry_run = false)
  {
    const Store store = Store::open(path("store"), true);
    ScanOptions opt;
    opt.link = mode;
    opt.dry_run = dry_run;
    opt.jobs = 2;
    Unifier u(store, opt, reporter);
    for (const auto& r : roots) {
      u.add_tree(u.add_root(path(r)));
    }
    return u.run();
  }

  CollectingReporter reporter;
};

}  // namespace

TEST(CandidateVerdict, KeysForWhatIsNoCandidate)
{
  const Policy p = default_policy();
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/tool", regular(4096)), std::nullopt);
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/tool", regular(0))->key, "empty");
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/tool", regular(p.min_size - 1))->key, "too-small");
  struct stat link = regular(10);
  link.st_mode = S_IFLNK | 0777;
  EXPECT_EQ(candidate_verdict(p, nullptr, "/usr/bin/sh", link)->key, "not-regular");
  EXPECT_EQ(candidate_verdict(p, nullptr, "/etc/passwd", regular(4096))->key, "excluded");
  PackageFilter filter;
  filter.config = {"/usr/lib/app.conf"};
  EXPECT_EQ(candidate_verdict(p, &filter, "/usr/lib/app.conf", regular(4096))->key, "config");
  filter.packaged = std::unordered_set<std::string>{"/usr/bin/owned"};
  EXPECT_EQ(candidate_verdict(p, &filter, "/usr/bin/stray", regular(4096))->key, "unpackaged");
  EXPECT_EQ(candidate_verdict(p, &filter, "/usr/bin/owned", regular(4096)), std::nullopt);
}

TEST(IdentityKindOf, ReflinkSharesContentOnly)
{
  Policy p = default_policy();
  EXPECT_EQ(identity_kind(p, LinkMode::hardlink), IdentityKind::full);
  EXPECT_EQ(identity_kind(p, LinkMode::reflink), IdentityKind::content_only);
  p.ignore_mtime = true;
  EXPECT_EQ(identity_kind(p, LinkMode::immutable), IdentityKind::ignore_mtime);
}

TEST_F(ScannerTest, IdenticalFilesShareOneObjectAndASecondRunReadsNothing)
{
  for (const char* g : {"g1", "g2", "g3"}) {
    write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(8000, 't'));
  }
  write_fixed(path("g3/usr/bin/own"), std::string(8000, 'o'));
  const ScanStats first = scan({"g1", "g2", "g3"});
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(first.linked, 4u);
  EXPECT_EQ(first.objects_created, 2u);
  EXPECT_EQ(first.bytes_saved, 2 * 8000);
  EXPECT_EQ(inode_of(path("g1/usr/bin/tool")), inode_of(path("g3/usr/bin/tool")));
  const ScanStats second = scan({"g1", "g2", "g3"});
  EXPECT_EQ(second.linked, 0u);
  EXPECT_EQ(second.already_linked, 4u);
  EXPECT_EQ(second.bytes_read, 0u);
}

TEST_F(ScannerTest, DryRunChangesNothing)
{
  for (const char* g : {"g1", "g2"}) {
    write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(8000, 't'));
  }
  const ScanStats s = scan({"g1", "g2"}, LinkMode::hardlink, true);
  EXPECT_EQ(s.linked, 2u);
  EXPECT_NE(inode_of(path("g1/usr/bin/tool")), inode_of(path("g2/usr/bin/tool")));
}

TEST_F(ScannerTest, ARootOnAnotherFilesystemIsRefused)
{
  const Store store = Store::open(path("store"), true);
  ScanOptions opt;
  Unifier u(store, opt, reporter);
  if (inode_of("/proc/self") == 0) {
    GTEST_SKIP() << "no /proc";
  }
  EXPECT_THROW(u.add_root("/proc"), ConfigError);
}
