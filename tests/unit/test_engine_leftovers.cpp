// SPDX-License-Identifier: GPL-2.0-or-later
// Temporary names of an interrupted run (guest/temp_name.hpp) that a scan
// finds: core/engine/leftovers.cpp removes or renames them back, or leaves
// them with a warning, and only when no other run holds the store.
#include "procutil.hpp"
#include "scan_fixture.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

using namespace pkgunify;
using pkgunify::test::inode_of;
using pkgunify::test::read_file;
using pkgunify::test::ScanTest;
using pkgunify::test::write_fixed;

namespace fs = std::filesystem;

namespace {

const std::string k_content(4000, 'c');

bool
exists_nofollow(const std::string& path)
{
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

class Leftovers : public ScanTest
{
protected:
  enum class Run : std::uint8_t { real, dry };

  ScanStats
  scan_g1(Run run = Run::real)
  {
    ScanOptions opt;
    opt.link = LinkMode::hardlink;
    opt.dry_run = run == Run::dry;
    opt.jobs = 2;
    return scan({"g1"}, opt);
  }

  // g1/usr/bin/NAME
  [[nodiscard]] std::string
  bin(const std::string& name) const
  {
    return at("g1/usr/bin/" + name);
  }

  // One leftover of each kind next to a file `tool`:
  //   .#pku.0123abcd.tool    a replacement never exchanged (tool is there)
  //   .#pku.11111111.gone    the original swapped out (gone is missing)
  //   .#pku.22222222         no name, the inode a store object (a link to tool)
  //   .#pku.33333333         no name, no object
  // `tool` is linked to its object by a first scan.
  void
  one_of_each_kind()
  {
    write_fixed(bin("tool"), k_content);
    ASSERT_EQ(scan_g1().linked, 1u);
    ASSERT_TRUE(reporter.errors.empty());
    write_fixed(bin(".#pku.0123abcd.tool"), k_content);
    write_fixed(bin(".#pku.11111111.gone"), "the original of gone");
    ASSERT_EQ(::link(bin("tool").c_str(), bin(".#pku.22222222").c_str()), 0);
    write_fixed(bin(".#pku.33333333"), "unknown");
  }

  [[nodiscard]] std::string
  unknown_warning() const
  {
    return bin(".#pku.33333333")
           + ": temporary file of an interrupted pkgunify run whose original name is unknown; left in place";
  }
};

}  // namespace

TEST_F(Leftovers, TheOriginalIsThereTheTemporaryIsRemoved)
{
  write_fixed(bin("tool"), k_content);
  write_fixed(bin(".#pku.0123abcd.tool"), "a replacement that was never exchanged");
  const ScanStats s = scan_g1();
  EXPECT_TRUE(reporter.errors.empty());
  EXPECT_TRUE(reporter.warnings.empty());
  EXPECT_EQ(s.leftovers_cleaned, 1u);
  EXPECT_FALSE(exists_nofollow(bin(".#pku.0123abcd.tool")));
  EXPECT_EQ(read_file(bin("tool")), k_content);
  // The temporary is no file of the guest: neither seen nor a candidate.
  EXPECT_EQ(s.files_seen, 1u);
  EXPECT_EQ(s.candidates, 1u);
  EXPECT_EQ(s.linked, 1u);
}

TEST_F(Leftovers, TheOriginalIsMissingTheTemporaryIsRenamedBack)
{
  write_fixed(bin(".#pku.0123abcd.gone"), "the original of gone");
  const ino_t ino = inode_of(bin(".#pku.0123abcd.gone"));
  const ScanStats s = scan_g1();
  EXPECT_TRUE(reporter.errors.empty());
  EXPECT_EQ(s.leftovers_cleaned, 1u);
  EXPECT_FALSE(exists_nofollow(bin(".#pku.0123abcd.gone")));
  EXPECT_EQ(read_file(bin("gone")), "the original of gone");
  EXPECT_EQ(inode_of(bin("gone")), ino);
  // Found as a leftover, not as a candidate: the next scan links it.
  EXPECT_EQ(s.candidates, 0u);
  EXPECT_EQ(scan_g1().linked, 1u);
}

TEST_F(Leftovers, ALegacyTemporaryNameIsCleanedToo)
{
  write_fixed(bin(".#pkgunify.0123456789abcdef.old"), "from an older pkgunify");
  const ScanStats s = scan_g1();
  EXPECT_EQ(s.leftovers_cleaned, 1u);
  EXPECT_EQ(read_file(bin("old")), "from an older pkgunify");
  EXPECT_FALSE(exists_nofollow(bin(".#pkgunify.0123456789abcdef.old")));
}

TEST_F(Leftovers, ANamelessTemporaryThatIsAStoreObjectIsRemoved)
{
  write_fixed(bin("tool"), k_content);
  ASSERT_EQ(scan_g1().objects_created, 1u);
  struct stat before;
  ASSERT_EQ(::stat(bin("tool").c_str(), &before), 0);
  ASSERT_EQ(before.st_nlink, 2u);  // the object and the guest
  // The name was too long to keep (guest_temp_name leaves it out).
  ASSERT_EQ(::link(bin("tool").c_str(), bin(".#pku.89abcdef").c_str()), 0);
  const ScanStats s = scan_g1();
  EXPECT_TRUE(reporter.warnings.empty());
  EXPECT_EQ(s.leftovers_cleaned, 1u);
  EXPECT_FALSE(exists_nofollow(bin(".#pku.89abcdef")));
  struct stat after;
  ASSERT_EQ(::stat(bin("tool").c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_nlink, 2u);
  EXPECT_EQ(s.already_linked, 1u);
}

TEST_F(Leftovers, ANamelessTemporaryThatIsNoObjectIsLeftWithAWarning)
{
  write_fixed(bin(".#pku.89abcdef"), "nobody knows whose");
  const ScanStats s = scan_g1();
  EXPECT_TRUE(reporter.errors.empty());
  ASSERT_EQ(reporter.warnings.size(), 1u);
  EXPECT_EQ(reporter.warnings[0], bin(".#pku.89abcdef")
                                    + ": temporary file of an interrupted pkgunify run whose original name is "
                                      "unknown; left in place");
  EXPECT_EQ(s.leftovers_cleaned, 0u);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_EQ(read_file(bin(".#pku.89abcdef")), "nobody knows whose");
}

TEST_F(Leftovers, OnlyRegularFilesAreLeftovers)
{
  fs::create_directories(bin(".#pku.44444444.dir"));
  ASSERT_EQ(::symlink("tool", bin(".#pku.0123abcd.link").c_str()), 0);
  const ScanStats s = scan_g1();
  EXPECT_EQ(s.leftovers_cleaned, 0u);
  EXPECT_TRUE(reporter.warnings.empty());
  EXPECT_TRUE(exists_nofollow(bin(".#pku.0123abcd.link")));
  EXPECT_FALSE(exists_nofollow(bin("link")));
  EXPECT_TRUE(fs::is_directory(bin(".#pku.44444444.dir")));
  EXPECT_FALSE(exists_nofollow(bin("dir")));
}

TEST_F(Leftovers, CleanedCountsExactlyWhatWasCleaned)
{
  one_of_each_kind();
  const ScanStats s = scan_g1();
  EXPECT_TRUE(reporter.errors.empty());
  EXPECT_EQ(s.leftovers_cleaned, 3u);
  EXPECT_EQ(reporter.warnings, std::vector<std::string>{unknown_warning()});
  EXPECT_FALSE(exists_nofollow(bin(".#pku.0123abcd.tool")));
  EXPECT_FALSE(exists_nofollow(bin(".#pku.11111111.gone")));
  EXPECT_FALSE(exists_nofollow(bin(".#pku.22222222")));
  EXPECT_TRUE(exists_nofollow(bin(".#pku.33333333")));
  EXPECT_EQ(read_file(bin("gone")), "the original of gone");
  EXPECT_EQ(read_file(bin("tool")), k_content);
  // Nothing left to clean; the unknown one is reported again.
  reporter.warnings.clear();
  EXPECT_EQ(scan_g1().leftovers_cleaned, 0u);
  EXPECT_EQ(reporter.warnings, std::vector<std::string>{unknown_warning()});
}

TEST_F(Leftovers, WhileAnotherRunHoldsTheStoreTheyAreLeftAlone)
{
  one_of_each_kind();
  const std::string gone = "the original of gone";
  {
    // Another run: it holds the store directory's flock shared while it
    // works, and its temporaries look exactly like leftovers.
    const int other = ::open(at("store").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(other, 0);
    ASSERT_EQ(::flock(other, LOCK_SH | LOCK_NB), 0);
    const ScanStats s = scan_g1();
    ::close(other);
    EXPECT_TRUE(reporter.errors.empty());
    EXPECT_TRUE(reporter.warnings.empty());
    EXPECT_EQ(s.leftovers_cleaned, 0u);
    EXPECT_EQ(s.errors, 0u);
    // Counted nowhere: no file seen, no candidate, no skip.
    EXPECT_EQ(s.files_seen, 1u);
    EXPECT_EQ(s.candidates, 1u);
    EXPECT_EQ(s.already_linked, 1u);
    EXPECT_TRUE(s.skipped.empty());
    for (const char* name : {".#pku.0123abcd.tool", ".#pku.11111111.gone", ".#pku.22222222", ".#pku.33333333"}) {
      EXPECT_TRUE(exists_nofollow(bin(name))) << name;
    }
    EXPECT_FALSE(exists_nofollow(bin("gone")));
  }
  // Alone again: the next run cleans them.
  EXPECT_EQ(scan_g1().leftovers_cleaned, 3u);
  EXPECT_EQ(read_file(bin("gone")), gone);
}

TEST_F(Leftovers, ADryRunCleansNothing)
{
  one_of_each_kind();
  const ScanStats s = scan_g1(Run::dry);
  EXPECT_TRUE(reporter.errors.empty());
  EXPECT_TRUE(reporter.warnings.empty());
  EXPECT_EQ(s.leftovers_cleaned, 0u);
  for (const char* name : {".#pku.0123abcd.tool", ".#pku.11111111.gone", ".#pku.22222222", ".#pku.33333333"}) {
    EXPECT_TRUE(exists_nofollow(bin(name))) << name;
  }
  EXPECT_FALSE(exists_nofollow(bin("gone")));
}

TEST_F(Leftovers, AStoreThatDoesNotExistYetCleansNothing)
{
  write_fixed(bin(".#pku.0123abcd.gone"), "the original of gone");
  const Store store = Store::absent(at("store"));
  ScanOptions opt;
  opt.dry_run = true;
  Unifier u(store, opt, reporter);
  u.add_tree(u.add_root(at("g1")));
  EXPECT_EQ(u.run().leftovers_cleaned, 0u);
  EXPECT_TRUE(exists_nofollow(bin(".#pku.0123abcd.gone")));
  EXPECT_FALSE(fs::exists(at("store")));
}
