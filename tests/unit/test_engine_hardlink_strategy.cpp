// SPDX-License-Identifier: GPL-2.0-or-later
// Link mode hardlink (core/engine/hardlink_strategy.cpp): objects made by
// copy or by adopting the guest's inode, every name replaced by a link to
// its object, objects whose metadata changed refused, files that changed
// skipped, dry runs counting what a real run does, successors past the
// filesystem's link limit.
#include "procutil.hpp"
#include "scan_fixture.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace pkgunify;
using pkgunify::test::describe;
using pkgunify::test::inode_of;
using pkgunify::test::read_file;
using pkgunify::test::ScanTest;
using pkgunify::test::ScratchMount;
using pkgunify::test::write_fixed;

namespace fs = std::filesystem;

namespace {

class HardlinkStrategy : public ScanTest
{
protected:
  enum class Run : std::uint8_t { real, dry };

  [[nodiscard]] static ScanOptions
  options(CreateMode create, Run run = Run::real)
  {
    ScanOptions opt;
    opt.link = LinkMode::hardlink;
    opt.policy.create = create;
    opt.dry_run = run == Run::dry;
    opt.jobs = 2;
    return opt;
  }

  void
  link(const std::string& from, const std::string& to) const
  {
    fs::create_directories(fs::path(at(to)).parent_path());
    ASSERT_EQ(::link(at(from).c_str(), at(to).c_str()), 0) << to;
  }

  [[nodiscard]] std::string
  object_path(const std::string& object) const
  {
    return at("store/objects/" + object);
  }

  // The counters a dry run must predict.
  static std::string
  predicted(const ScanStats& s)
  {
    return "linked=" + std::to_string(s.linked) + " already_linked=" + std::to_string(s.already_linked)
           + " objects_created=" + std::to_string(s.objects_created) + " bytes_saved=" + std::to_string(s.bytes_saved);
  }
};

struct stat
stat_of(const std::string& path)
{
  struct stat st = {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

}  // namespace

TEST_F(HardlinkStrategy, CopyMakesANewInodeTheObjectAndTheGuestFileALinkToIt)
{
  write_fixed(at("g1/usr/bin/tool"), std::string(8000, 't'));
  ASSERT_EQ(::chmod(at("g1/usr/bin/tool").c_str(), 0751), 0);
  const struct stat before = stat_of(at("g1/usr/bin/tool"));
  const int original = ::open(at("g1/usr/bin/tool").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(original, 0);
  const ScanStats s = scan({"g1"}, options(CreateMode::copy));
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.linked, 1u);
  EXPECT_EQ(s.objects_created, 1u);
  EXPECT_EQ(s.bytes_read, 8000u);
  EXPECT_EQ(s.bytes_saved, 0);  // the copy costs what the original frees
  const std::string object = linked_objects({"g1"}).at("g1/usr/bin/tool");
  ASSERT_NE(object, "");
  const struct stat after = stat_of(at("g1/usr/bin/tool"));
  EXPECT_NE(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_ino, stat_of(object_path(object)).st_ino);
  EXPECT_EQ(after.st_nlink, 2u);
  // The copy has the original's content and metadata.
  EXPECT_EQ(read_file(at("g1/usr/bin/tool")), std::string(8000, 't'));
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_mtim.tv_sec, 1600000000);
  // The original inode lost its only name.
  struct stat orig = {};
  ASSERT_EQ(::fstat(original, &orig), 0);
  EXPECT_EQ(orig.st_ino, before.st_ino);
  EXPECT_EQ(orig.st_nlink, 0u);
  ::close(original);
}

TEST_F(HardlinkStrategy, AdoptMakesTheGuestsOwnInodeTheObject)
{
  write_fixed(at("g1/usr/bin/tool"), std::string(8000, 't'));
  // Two names, both in the roots (one in each).
  write_fixed(at("g1/usr/lib/pair"), std::string(5000, 'p'));
  link("g1/usr/lib/pair", "g2/usr/lib/pair");
  const ino_t tool = inode_of(at("g1/usr/bin/tool"));
  const ino_t pair = inode_of(at("g1/usr/lib/pair"));
  const ScanStats s = scan({"g1", "g2"}, options(CreateMode::adopt));
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.linked, 3u) << describe(s);
  EXPECT_EQ(s.objects_created, 2u);
  EXPECT_EQ(s.bytes_saved, 0);  // nothing copied, nothing freed
  const auto objects = linked_objects({"g1", "g2"});
  ASSERT_NE(objects.at("g1/usr/bin/tool"), "");
  ASSERT_NE(objects.at("g1/usr/lib/pair"), "");
  EXPECT_EQ(objects.at("g2/usr/lib/pair"), objects.at("g1/usr/lib/pair"));
  EXPECT_EQ(inode_of(at("g1/usr/bin/tool")), tool);
  EXPECT_EQ(inode_of(object_path(objects.at("g1/usr/bin/tool"))), tool);
  EXPECT_EQ(inode_of(at("g1/usr/lib/pair")), pair);
  EXPECT_EQ(inode_of(at("g2/usr/lib/pair")), pair);
  EXPECT_EQ(stat_of(at("g1/usr/lib/pair")).st_nlink, 3u);
}

TEST_F(HardlinkStrategy, AdoptCopiesAFileWithANameOutsideTheRootsOrExcluded)
{
  write_fixed(at("g1/usr/bin/outside"), std::string(8000, 'o'));
  link("g1/usr/bin/outside", "elsewhere/outside");
  // /var is excluded by the default policy: that name is no candidate.
  write_fixed(at("g1/usr/bin/excluded"), std::string(6000, 'e'));
  link("g1/usr/bin/excluded", "g1/var/lib/excluded");
  const ino_t outside = inode_of(at("g1/usr/bin/outside"));
  const ino_t excluded = inode_of(at("g1/usr/bin/excluded"));
  const ScanStats s = scan({"g1"}, options(CreateMode::adopt));
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.linked, 2u) << describe(s);
  EXPECT_EQ(s.objects_created, 2u);
  EXPECT_EQ(s.bytes_saved, -14000);  // two copies; the originals keep a name
  const auto objects = linked_objects({"g1"});
  ASSERT_NE(objects.at("g1/usr/bin/outside"), "");
  ASSERT_NE(objects.at("g1/usr/bin/excluded"), "");
  EXPECT_EQ(objects.at("g1/var/lib/excluded"), "");
  EXPECT_NE(inode_of(at("g1/usr/bin/outside")), outside);
  EXPECT_NE(inode_of(at("g1/usr/bin/excluded")), excluded);
  // The names the scan does not link keep the guest's inode, untouched.
  EXPECT_EQ(inode_of(at("elsewhere/outside")), outside);
  EXPECT_EQ(inode_of(at("g1/var/lib/excluded")), excluded);
  EXPECT_EQ(stat_of(at("elsewhere/outside")).st_nlink, 1u);
  EXPECT_EQ(read_file(at("elsewhere/outside")), std::string(8000, 'o'));
}

TEST_F(HardlinkStrategy, AnObjectWhoseMetadataChangedIsReportedAndNotLinkedTo)
{
  write_fixed(at("g1/usr/bin/tool"), std::string(8000, 't'));
  write_fixed(at("g2/usr/bin/tool"), std::string(8000, 't'));
  ASSERT_EQ(scan({"g1"}, options(CreateMode::copy)).objects_created, 1u);
  const std::string object = linked_objects({"g1"}).at("g1/usr/bin/tool");
  ASSERT_NE(object, "");
  // Behind the store's back (this is also g1's file: one inode).
  ASSERT_EQ(::chmod(object_path(object).c_str(), 0600), 0);
  const ino_t g2 = inode_of(at("g2/usr/bin/tool"));
  const ScanStats s = scan({"g1", "g2"}, options(CreateMode::copy));
  EXPECT_EQ(s.errors, 1u) << describe(s);
  EXPECT_EQ(s.linked, 0u);
  EXPECT_EQ(s.objects_created, 0u);
  EXPECT_EQ(s.already_linked, 1u);  // g1's file is the object
  ASSERT_EQ(reporter.errors.size(), 1u);
  EXPECT_EQ(reporter.errors[0], object_path(object)
                                  + ": object does not match its name (metadata changed); run 'pkgunify store fsck' "
                                    "(needed for "
                                  + at("g2/usr/bin/tool") + ")");
  EXPECT_EQ(inode_of(at("g2/usr/bin/tool")), g2);
  EXPECT_EQ(stat_of(object_path(object)).st_nlink, 2u);
}

// What a dry run predicts, for a store that holds some objects already:
// files already linked, new objects for one file and for several, an
// object that exists, a file with a name outside the roots; with
// `Names::several`, also a file with two names in one root.
class HardlinkDryRun : public HardlinkStrategy
{
protected:
  enum class Names : std::uint8_t { one, several };

  void
  make_guests(const std::string& sub, CreateMode create, Names names)
  {
    write_fixed(at(sub + "/g0/usr/bin/shared"), std::string(9000, 's'));
    ASSERT_EQ(scan({sub + "/g0"}, options(create), sub + "/store").objects_created, 1u);
    write_fixed(at(sub + "/g1/usr/bin/shared"), std::string(9000, 's'));
    for (const char* g : {"g1", "g2"}) {
      write_fixed(at(sub + "/" + g + "/usr/bin/dup"), std::string(7000, 'd'));
    }
    write_fixed(at(sub + "/g3/usr/bin/own"), std::string(3000, 'o'));
    write_fixed(at(sub + "/g2/usr/lib/kept"), std::string(2000, 'k'));
    link(sub + "/g2/usr/lib/kept", sub + "/elsewhere/kept");
    if (names == Names::several) {
      write_fixed(at(sub + "/g3/usr/lib/pair"), std::string(4000, 'p'));
      link(sub + "/g3/usr/lib/pair", sub + "/g3/usr/lib/pair.2");
    }
  }

  // The dry run's and the real run's counters; checks the dry run changed
  // nothing and read what the real one reads.
  std::pair<std::string, std::string>
  dry_and_real(const std::string& sub, CreateMode create)
  {
    const std::vector<std::string> roots{sub + "/g0", sub + "/g1", sub + "/g2", sub + "/g3"};
    const auto before = linked_objects(roots, sub + "/store");
    std::map<std::string, ino_t> inodes;
    for (const auto& [file, object] : before) {
      inodes[file] = inode_of(at(file));
    }
    const ScanStats dry = scan(roots, options(create, Run::dry), sub + "/store");
    EXPECT_EQ(dry.errors, 0u) << describe(dry);
    EXPECT_TRUE(linked_objects(roots, sub + "/store") == before);
    for (const auto& [file, ino] : inodes) {
      EXPECT_EQ(inode_of(at(file)), ino) << file;
    }
    const ScanStats real = scan(roots, options(create), sub + "/store");
    EXPECT_EQ(real.errors, 0u) << describe(real);
    EXPECT_EQ(real.bytes_read, dry.bytes_read);
    return {predicted(dry), predicted(real)};
  }
};

TEST_F(HardlinkDryRun, CopyCountsWhatTheRealRunDoes)
{
  make_guests("copy", CreateMode::copy, Names::one);
  const auto [dry, real] = dry_and_real("copy", CreateMode::copy);
  EXPECT_EQ(dry, real);
  EXPECT_EQ(real, "linked=5 already_linked=1 objects_created=3 bytes_saved=14000");
}

// The dry run counted the bytes of a replaced inode only for a file with
// one name (Candidate::nlink == 1), while the real run frees an inode once
// its last name is linked: for "pair" (two names, both in the roots) the
// dry run said bytes_saved=10000, the real one 14000.
TEST_F(HardlinkDryRun, CopyCountsTheBytesOfAnInodeWithSeveralNames)
{
  make_guests("copy", CreateMode::copy, Names::several);
  const auto [dry, real] = dry_and_real("copy", CreateMode::copy);
  EXPECT_EQ(dry, real);
}

// With create: adopt the dry run did not count the adopted file itself as
// linked, while the real run does (link_group: "already" on the adopted
// inode counts as linked): linked=4 against linked=7 here.
TEST_F(HardlinkDryRun, AdoptCountsWhatTheRealRunDoes)
{
  make_guests("adopt", CreateMode::adopt, Names::several);
  const auto [dry, real] = dry_and_real("adopt", CreateMode::adopt);
  EXPECT_EQ(dry, real);
}

TEST_F(HardlinkStrategy, AFileReplacedOrRemovedAfterTheWalkIsSkippedAsChanged)
{
  for (const char* name : {"replaced", "removed", "rewritten", "kept"}) {
    write_fixed(at(std::string("g1/usr/bin/") + name), std::string(5000, name[0]));
  }
  const Store store = Store::open(at("store"), Store::Create::if_missing);
  Unifier u(store, options(CreateMode::copy), reporter);
  u.add_tree(u.add_root(at("g1")));
  // Between the walk and the hash: a new inode, no file, new content.
  write_fixed(at("g1/usr/bin/replaced.new"), std::string(5000, 'N'));
  fs::rename(at("g1/usr/bin/replaced.new"), at("g1/usr/bin/replaced"));
  const ino_t replaced = inode_of(at("g1/usr/bin/replaced"));
  fs::remove(at("g1/usr/bin/removed"));
  write_fixed(at("g1/usr/bin/rewritten"), std::string(6000, 'W'));
  const ScanStats s = u.run();
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.skipped, (std::map<std::string, std::uint64_t>{{"changed", 2}})) << describe(s);
  EXPECT_EQ(s.linked, 2u);
  const auto objects = linked_objects({"g1"});
  EXPECT_EQ(objects.at("g1/usr/bin/replaced"), "");
  EXPECT_EQ(inode_of(at("g1/usr/bin/replaced")), replaced);
  EXPECT_EQ(read_file(at("g1/usr/bin/replaced")), std::string(5000, 'N'));
  EXPECT_FALSE(fs::exists(at("g1/usr/bin/removed")));
  // The same inode with new content: hashed as it is now.
  EXPECT_NE(objects.at("g1/usr/bin/rewritten"), "");
  EXPECT_EQ(read_file(at("g1/usr/bin/rewritten")), std::string(6000, 'W'));
  EXPECT_EQ(read_file(object_path(objects.at("g1/usr/bin/rewritten"))), std::string(6000, 'W'));
  EXPECT_NE(objects.at("g1/usr/bin/kept"), "");
}

// Files of one content prepared while their object is still being made
// (here: all of them, as no new object is published before the run's one
// syncfs) make one copy: the first to find the object missing copies it,
// the others wait for it. A file past the read buffer is read again to be
// copied; one that finds its object in the store is never copied.
TEST_F(HardlinkStrategy, FilesOfOneContentInFlightTogetherMakeOneCopy)
{
  const std::string small(3000, 's');
  const std::string large((3u << 20) + 5, 'L');
  for (int i = 0; i < 40; ++i) {
    write_fixed(at("g1/usr/share/s" + std::to_string(i)), small);
  }
  for (int i = 0; i < 6; ++i) {
    write_fixed(at("g1/usr/lib/l" + std::to_string(i)), large);
  }
  // The 46 files wait for one syncfs only where the descriptor budget has
  // room for them (pipeline.cpp: descriptor_budget): a soft limit of 1024.
  struct rlimit rl = {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1024) {
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1024) {
      GTEST_SKIP() << "needs a descriptor limit of 1024, the hard limit is " << rl.rlim_max;
    }
    rl.rlim_cur = 1024;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
  }
  ScanOptions opt = options(CreateMode::copy);
  opt.jobs = 4;
  const ScanStats s = scan({"g1"}, opt);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.linked, 46u) << describe(s);
  EXPECT_EQ(s.objects_created, 2u);
  EXPECT_EQ(s.bytes_read, 40 * small.size() + 6 * large.size());
  EXPECT_EQ(s.bytes_copied, small.size() + large.size());
  const auto objects = linked_objects({"g1"});
  const std::string small_object = objects.at("g1/usr/share/s0");
  const std::string large_object = objects.at("g1/usr/lib/l0");
  ASSERT_NE(small_object, "");
  ASSERT_NE(large_object, "");
  for (const auto& [file, object] : objects) {
    EXPECT_EQ(object, file.starts_with("g1/usr/share/") ? small_object : large_object) << file;
  }
  EXPECT_EQ(read_file(object_path(small_object)), small);
  EXPECT_EQ(read_file(object_path(large_object)), large);
  EXPECT_EQ(stat_of(object_path(large_object)).st_nlink, 7u);

  // Another guest's copies find their objects: nothing is copied.
  for (int i = 0; i < 3; ++i) {
    write_fixed(at("g2/usr/lib/l" + std::to_string(i)), large);
  }
  const ScanStats again = scan({"g2"}, opt);
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(again.linked, 3u) << describe(again);
  EXPECT_EQ(again.objects_created, 0u);
  EXPECT_EQ(again.bytes_copied, 0u);
  EXPECT_EQ(stat_of(object_path(large_object)).st_nlink, 10u);
}

// ext4 takes 65000 links per inode: an object padded with names outside
// the roots up to one below the limit takes one more guest, its successor
// "….1" the others.
TEST_F(HardlinkStrategy, SuccessorsTakeTheLinksPastTheLinkLimit)
{
  ScratchMount ext4;
  if (const std::string why = ext4.mount("ext4", 256); !why.empty()) {
    GTEST_SKIP() << why;
  }
  constexpr int k_ext4_link_max = 65000;
  write_fixed(ext4.path("g1/usr/bin/tool"), std::string(3000, 't'));
  const Store store = Store::open(ext4.path("store"), Store::Create::if_missing);
  const ScanOptions opt = options(CreateMode::copy);
  auto scan_on_ext4 = [&](const std::vector<std::string>& roots) {
    Unifier u(store, opt, reporter);
    for (const auto& r : roots) {
      u.add_tree(u.add_root(ext4.path(r)));
    }
    return u.run();
  };
  ASSERT_EQ(scan_on_ext4({"g1"}).objects_created, 1u);
  fs::create_directories(ext4.path("pad"));
  const std::string tool = ext4.path("g1/usr/bin/tool");
  for (int n = 2; n < k_ext4_link_max - 1; ++n) {
    ASSERT_EQ(::link(tool.c_str(), ext4.path("pad/" + std::to_string(n)).c_str()), 0) << n;
  }
  ASSERT_EQ(stat_of(tool).st_nlink, static_cast<nlink_t>(k_ext4_link_max - 1));
  for (const char* name : {"a", "b", "c"}) {
    write_fixed(ext4.path(std::string("g2/usr/bin/") + name), std::string(3000, 't'));
  }
  const ScanStats s = scan_on_ext4({"g1", "g2"});
  EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
  EXPECT_EQ(s.linked, 3u) << describe(s);
  EXPECT_EQ(s.already_linked, 1u);
  EXPECT_EQ(s.objects_created, 1u);  // the successor
  EXPECT_EQ(s.bytes_saved, 3 * 3000 - 3000);
  const auto objects = store.object_paths_by_inode();
  ASSERT_EQ(objects.size(), 2u);
  const std::string object = objects.at(inode_of(tool));
  EXPECT_EQ(stat_of(tool).st_nlink, static_cast<nlink_t>(k_ext4_link_max));
  std::map<std::string, int> linked_to;
  for (const char* name : {"a", "b", "c"}) {
    const auto it = objects.find(inode_of(ext4.path(std::string("g2/usr/bin/") + name)));
    ASSERT_NE(it, objects.end()) << name;
    ++linked_to[it->second];
  }
  EXPECT_EQ(linked_to, (std::map<std::string, int>{{object, 1}, {object + ".1", 2}}));
}

// On btrfs without extended inode refs (mkfs.btrfs -O ^extref, the format
// before btrfs-progs 3.12) the names of one inode in one directory must fit
// in a leaf: with 200-byte names and 4 KiB leaves an inode takes 18 of
// them. The link to the temporary name still fits; the exchange that
// renames it fails with EMLINK, which was reported as an error ("replace
// …: Too many links") instead of going on with a successor: 17 of the 40
// files were linked, 23 failed.
TEST_F(HardlinkStrategy, SuccessorsWhenTheExchangeHitsTheLinkLimit)
{
  ScratchMount btrfs;
  if (const std::string why = btrfs.mount("btrfs", 512, {"-O", "^extref", "-n", "4096"}); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string many = btrfs.path("g1/usr/share/many");
  constexpr int k_names = 40;
  for (int i = 0; i < k_names; ++i) {
    write_fixed(many + "/" + std::string(200 - 3, 'n') + std::to_string(100 + i), std::string(3000, 'm'));
  }
  const Store store = Store::open(btrfs.path("store"), Store::Create::if_missing);
  ScanOptions opt = options(CreateMode::copy);
  {
    Unifier u(store, opt, reporter);
    u.add_tree(u.add_root(btrfs.path("g1")));
    const ScanStats s = u.run();
    EXPECT_TRUE(reporter.errors.empty()) << reporter.errors.front();
    EXPECT_EQ(s.linked, static_cast<std::uint64_t>(k_names)) << describe(s);
    EXPECT_GE(s.objects_created, 3u) << describe(s);
    EXPECT_LE(s.objects_created, 4u) << describe(s);
    // One object and its successors "….1", "….2": every name a link to one.
    const auto objects = store.object_paths_by_inode();
    EXPECT_EQ(objects.size(), s.objects_created);
    std::set<std::string> used;
    for (const auto& e : fs::directory_iterator(many)) {
      const auto it = objects.find(inode_of(e.path()));
      ASSERT_NE(it, objects.end()) << e.path();
      used.insert(it->second);
    }
    EXPECT_EQ(used.size(), objects.size());
    const std::string first = *used.begin();
    for (unsigned n = 1; n < used.size(); ++n) {
      EXPECT_TRUE(used.contains(first + "." + std::to_string(n))) << first << "." << n;
    }
  }
  Unifier again(store, opt, reporter);
  again.add_tree(again.add_root(btrfs.path("g1")));
  const ScanStats s = again.run();
  EXPECT_EQ(s.already_linked, static_cast<std::uint64_t>(k_names)) << describe(s);
  EXPECT_EQ(s.bytes_read, 0u);
}
