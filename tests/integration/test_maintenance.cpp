// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify split`, `store stats|gc|fsck` and `status` on a known tree.
#include "harness.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace pkgunify::itest {
namespace {

// The known tree, after one scan:
//   a (100 bytes) in g1, g2, g3   -> object A, nlink 4
//   b (200 bytes) in g1, g2       -> object B, nlink 3
//   c  (50 bytes) in g1           -> object C, nlink 2
//   g1/etc/x (300 bytes) and g1/usr/lib/small (10 bytes): never unified
// Every test runs in the default link mode (auto: immutable on a kernel
// without Linux-VServer) and in plain hardlink mode.
class MaintenanceTest
  : public IntegrationTest
  , public ::testing::WithParamInterface<std::string>
{
protected:
  void
  SetUp() override
  {
    IntegrationTest::SetUp();
    if (GetParam() != "default") {
      set_link_mode(GetParam());
    }
    m_roots = make_roots(3);
    m_a = sized_spec(100, "a");
    m_a.mode = 0755;
    m_a.xattrs["user.origin"] = "package-a";
    m_a.mtime = {1650000000, 111};
    m_b = sized_spec(200, "b");
    m_c = sized_spec(50, "c");
    m_c.mode = 0600;
    write_in_roots(m_roots, "usr/bin/a", m_a);
    write_in_roots({m_roots[0], m_roots[1]}, "usr/lib/b", m_b);
    write_file(m_roots[0] + "/usr/share/c", m_c);
    write_file(m_roots[0] + "/etc/x", sized_spec(300, "etc"));
    write_file(m_roots[0] + "/usr/lib/small", sized_spec(10, "small"));
    const Json j = scan_ok(m_roots);
    ASSERT_EQ(counter(j, "linked"), 6);
    ASSERT_EQ(counter(j, "objects_created"), 3);
    m_obj_a = object_of(m_roots[0] + "/usr/bin/a");
    m_obj_b = object_of(m_roots[0] + "/usr/lib/b");
    m_obj_c = object_of(m_roots[0] + "/usr/share/c");
    ASSERT_EQ(store_objects(store()).size(), 3u);
  }

  [[nodiscard]] std::string
  expected_link_mode() const
  {
    return GetParam() == "default" ? "immutable" : GetParam();
  }

  [[nodiscard]] bool
  protects() const
  {
    return expected_link_mode() == "immutable";
  }

  // Removes a guest path the way a package manager does: released first
  // where the link mode protects it.
  static void
  remove_guest_file(const std::string& p)
  {
    make_replaceable(p);
    if (::unlink(p.c_str()) != 0) {
      throw std::runtime_error("unlink " + p + ": " + std::strerror(errno));
    }
  }

  [[nodiscard]] std::string
  g(int i, const std::string& rel) const
  {
    return m_roots[static_cast<std::size_t>(i)] + "/" + rel;
  }

  // The store object a guest path is linked to.
  [[nodiscard]] ObjectInfo
  object_of(const std::string& guest_path) const
  {
    const auto o = object_with_inode(store(), stat_path(guest_path).ino);
    if (!o) {
      throw std::runtime_error(guest_path + " is not linked to a store object");
    }
    return *o;
  }

  static RunResult
  split(const std::vector<std::string>& paths, bool dry_run = false)
  {
    std::vector<std::string> args{"split", "--json"};
    if (dry_run) {
      args.emplace_back("--dry-run");
    }
    args.insert(args.end(), paths.begin(), paths.end());
    return run_pkgunify(args);
  }

  std::vector<std::string> m_roots;
  FileSpec m_a;
  FileSpec m_b;
  FileSpec m_c;
  ObjectInfo m_obj_a;
  ObjectInfo m_obj_b;
  ObjectInfo m_obj_c;
};

INSTANTIATE_TEST_SUITE_P(LinkModes, MaintenanceTest, ::testing::Values("default", "hardlink"),
                         [](const ::testing::TestParamInfo<std::string>& param) { return param.param; });

// ---- split ----------------------------------------------------------------

TEST_P(MaintenanceTest, SplitGivesThePathAPrivateCopyWithTheSameMetadata)
{
  const FileStat shared = stat_path(g(0, "usr/bin/a"));
  ASSERT_EQ(shared.nlink, 4u);
  const Snapshot before = snapshot(m_roots[0]);

  const RunResult r = split({g(0, "usr/bin/a")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json j = r.json();
  EXPECT_EQ(j.at("command"), "split");
  EXPECT_EQ(j.at("dry_run"), false);
  EXPECT_EQ(counter(j, "split"), 1);
  EXPECT_EQ(counter(j, "not_shared"), 0);
  EXPECT_EQ(counter(j, "errors"), 0);

  const FileStat now = stat_path(g(0, "usr/bin/a"));
  EXPECT_NE(now.ino, shared.ino);
  EXPECT_EQ(now.nlink, 1u);
  // Same content and metadata; nothing else in the root changed. The
  // private copy is not protected.
  Snapshot expected = before;
  expected.at("usr/bin/a").protection = 0;
  const auto diff = diff_snapshots(expected, snapshot(m_roots[0]), {.inodes = false, .dir_mtime = false});
  EXPECT_TRUE(diff.empty()) << join_lines(diff);
  EXPECT_EQ(read_file(g(0, "usr/bin/a")), m_a.content);
  EXPECT_EQ(now.mode & 07777, 0755u);
  EXPECT_EQ(list_xattrs(g(0, "usr/bin/a")), m_a.xattrs);
  EXPECT_EQ(now.mtime_ns, 1650000000LL * 1000000000 + 111);
  // The other roots keep the shared object.
  EXPECT_EQ(stat_path(g(1, "usr/bin/a")).ino, shared.ino);
  EXPECT_EQ(stat_path(g(2, "usr/bin/a")).ino, shared.ino);
  EXPECT_EQ(stat_path(m_obj_a.path).nlink, 3u);
  EXPECT_TRUE(find_temp_names(tmp()).empty());
  EXPECT_FALSE(has_immutable_flag(g(0, "usr/bin/a")));
  EXPECT_EQ(has_immutable_flag(g(1, "usr/bin/a")), protects());

  // A write to the private copy does not show anywhere else.
  const int fd = ::open(g(0, "usr/bin/a").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(::pwrite(fd, "PRIVATE", 7, 0), 7);
  ::close(fd);
  EXPECT_EQ(read_file(g(0, "usr/bin/a")).substr(0, 7), "PRIVATE");
  EXPECT_EQ(read_file(g(1, "usr/bin/a")), m_a.content);
  EXPECT_EQ(read_file(g(2, "usr/bin/a")), m_a.content);
  EXPECT_EQ(read_file(m_obj_a.path), m_a.content);
}

TEST_P(MaintenanceTest, SplitDryRunChangesNothing)
{
  const Snapshot before = snapshot(tmp());
  const RunResult r = split({g(0, "usr/bin/a"), g(0, "etc/x")}, true);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.json().at("dry_run"), true);
  EXPECT_EQ(counter(r.json(), "split"), 1);
  EXPECT_EQ(counter(r.json(), "not_shared"), 1);
  const auto diff = diff_snapshots(before, snapshot(tmp()));
  EXPECT_TRUE(diff.empty()) << join_lines(diff);
}

TEST_P(MaintenanceTest, SplitOfANonSharedFileReportsNotShared)
{
  const FileStat before = stat_path(g(0, "etc/x"));
  ASSERT_EQ(before.nlink, 1u);
  const RunResult r = split({g(0, "etc/x"), g(0, "usr/lib/small")});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(counter(r.json(), "split"), 0);
  EXPECT_EQ(counter(r.json(), "not_shared"), 2);
  EXPECT_EQ(counter(r.json(), "errors"), 0);
  EXPECT_EQ(stat_path(g(0, "etc/x")).ino, before.ino);
}

TEST_P(MaintenanceTest, SplitThroughASymlinkIsRefused)
{
  make_symlink(m_roots[0] + "/usr", path("alias"));
  make_symlink("a", g(0, "usr/bin/a-link"));
  const FileStat shared = stat_path(g(0, "usr/bin/a"));

  const RunResult r = split({path("alias/bin/a")});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(counter(r.json(), "split"), 0);
  EXPECT_EQ(counter(r.json(), "errors"), 1);
  EXPECT_NE(r.err.find(path("alias/bin")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;

  const RunResult last = split({g(0, "usr/bin/a-link")});
  EXPECT_EQ(last.exit_code, 1) << last.describe();
  EXPECT_EQ(counter(last.json(), "errors"), 1);

  const FileStat now = stat_path(g(0, "usr/bin/a"));
  EXPECT_EQ(now.ino, shared.ino);
  EXPECT_EQ(now.nlink, 4u);
  EXPECT_TRUE(S_ISLNK(stat_path(g(0, "usr/bin/a-link")).mode));
  EXPECT_TRUE(find_temp_names(tmp()).empty());
}

// ---- store stats --------------------------------------------------------------

TEST_P(MaintenanceTest, StoreStatsCountsObjectsLinksAndBytesExactly)
{
  RunResult r = store_cmd("stats");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json j = r.json();
  EXPECT_EQ(j.at("command"), "store stats");
  EXPECT_EQ(j.at("store"), store());
  EXPECT_EQ(counter(j, "objects"), 3);
  EXPECT_EQ(counter(j, "successors"), 0);
  EXPECT_EQ(counter(j, "links"), 3 + 2 + 1);
  EXPECT_EQ(counter(j, "bytes_stored"), 100 + 200 + 50);
  EXPECT_EQ(counter(j, "bytes_saved"), 100 * 2 + 200 * 1);
  EXPECT_EQ(counter(j, "unreferenced"), 0);
  EXPECT_EQ(counter(j, "unreferenced_bytes"), 0);
  EXPECT_EQ(counter(j, "stray"), 0);

  // The only guest of C goes away; a stray file appears.
  remove_guest_file(g(0, "usr/share/c"));
  write_text(store() + "/objects/00/not-an-object", "junk");
  r = store_cmd("stats");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  j = r.json();
  EXPECT_EQ(counter(j, "objects"), 3);
  EXPECT_EQ(counter(j, "links"), 3 + 2);
  EXPECT_EQ(counter(j, "bytes_stored"), 350);
  EXPECT_EQ(counter(j, "bytes_saved"), 400);
  EXPECT_EQ(counter(j, "unreferenced"), 1);
  EXPECT_EQ(counter(j, "unreferenced_bytes"), 50);
  EXPECT_EQ(counter(j, "stray"), 1);
}

// ---- store gc -----------------------------------------------------------------

TEST_P(MaintenanceTest, GcRemovesOnlyObjectsNoGuestLinksTo)
{
  remove_guest_file(g(0, "usr/share/c"));
  ASSERT_EQ(stat_path(m_obj_c.path).nlink, 1u);

  const Snapshot before = snapshot(tmp());
  RunResult r = store_cmd("gc", {"--dry-run"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  Json j = r.json();
  EXPECT_EQ(j.at("command"), "store gc");
  EXPECT_EQ(j.at("dry_run"), true);
  EXPECT_EQ(counter(j, "removed"), 1);
  EXPECT_EQ(counter(j, "bytes_freed"), 50);
  EXPECT_EQ(counter(j, "kept"), 2);
  EXPECT_EQ(counter(j, "errors"), 0);
  const auto diff = diff_snapshots(before, snapshot(tmp()));
  EXPECT_TRUE(diff.empty()) << "gc --dry-run changed something:\n" << join_lines(diff);
  EXPECT_TRUE(exists(m_obj_c.path));

  r = store_cmd("gc");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  j = r.json();
  EXPECT_EQ(j.at("dry_run"), false);
  EXPECT_EQ(counter(j, "removed"), 1);
  EXPECT_EQ(counter(j, "bytes_freed"), 50);
  EXPECT_EQ(counter(j, "kept"), 2);
  EXPECT_FALSE(exists(m_obj_c.path));
  ASSERT_TRUE(exists(m_obj_a.path));
  ASSERT_TRUE(exists(m_obj_b.path));
  EXPECT_EQ(stat_path(m_obj_a.path).ino, m_obj_a.ino);
  EXPECT_EQ(stat_path(m_obj_a.path).nlink, 4u);
  EXPECT_EQ(stat_path(m_obj_b.path).ino, m_obj_b.ino);
  EXPECT_EQ(stat_path(m_obj_b.path).nlink, 3u);
  EXPECT_EQ(read_file(g(2, "usr/bin/a")), m_a.content);
  EXPECT_EQ(read_file(g(1, "usr/lib/b")), m_b.content);

  // Nothing left to collect.
  r = store_cmd("gc");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(counter(r.json(), "removed"), 0);
  EXPECT_EQ(counter(r.json(), "kept"), 2);

  // Both guests of B go: B goes too, A stays.
  remove_guest_file(g(0, "usr/lib/b"));
  remove_guest_file(g(1, "usr/lib/b"));
  r = store_cmd("gc");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(counter(r.json(), "removed"), 1);
  EXPECT_EQ(counter(r.json(), "bytes_freed"), 200);
  EXPECT_EQ(counter(r.json(), "kept"), 1);
  EXPECT_FALSE(exists(m_obj_b.path));
  EXPECT_TRUE(exists(m_obj_a.path));
}

// ---- store fsck -----------------------------------------------------------------

TEST_P(MaintenanceTest, FsckOfACleanStoreFindsNothing)
{
  const RunResult r = store_cmd("fsck");
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json j = r.json();
  EXPECT_EQ(j.at("command"), "store fsck");
  EXPECT_EQ(counter(j, "checked"), 3);
  EXPECT_EQ(counter(j, "corrupt"), 0);
  EXPECT_EQ(counter(j, "quarantined"), 0);
  EXPECT_EQ(counter(j, "stray"), 0);
  EXPECT_EQ(counter(j, "errors"), 0);
  EXPECT_EQ(counter(j, "bytes_read"), 350);
}

TEST_P(MaintenanceTest, FsckFindsCorruptContentAndRepairMovesItToQuarantine)
{
  // Corrupt A in place (it is the guests' inode too), keeping its mtime so
  // that only the content is wrong.
  // (Damage beneath the protection, where the mode sets one.)
  const FileStat st = stat_path(m_obj_a.path);
  with_protection_lifted(m_obj_a.path, [&] {
    const int fd = ::open(m_obj_a.path.c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const char flipped = m_a.content[10] == 'Z' ? 'Y' : 'Z';
    ASSERT_EQ(::pwrite(fd, &flipped, 1, 10), 1);
    const struct timespec times[2] = {{0, UTIME_OMIT}, {st.mtime_ns / 1000000000, st.mtime_ns % 1000000000}};
    ASSERT_EQ(::futimens(fd, times), 0);
    ::close(fd);
  });
  ASSERT_EQ(stat_path(m_obj_a.path).mtime_ns, st.mtime_ns);
  ASSERT_NE(read_file(g(1, "usr/bin/a")), m_a.content);
  ASSERT_EQ(has_immutable_flag(m_obj_a.path), protects());

  RunResult r = store_cmd("fsck");
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  Json j = r.json();
  EXPECT_EQ(counter(j, "checked"), 3);
  EXPECT_EQ(counter(j, "corrupt"), 1);
  EXPECT_EQ(counter(j, "quarantined"), 0);
  EXPECT_NE(r.err.find(m_obj_a.path), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(m_obj_b.path), std::string::npos) << r.err;
  EXPECT_TRUE(exists(m_obj_a.path)) << "fsck without --repair changes nothing";

  r = store_cmd("fsck", {"--repair"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  j = r.json();
  EXPECT_EQ(counter(j, "corrupt"), 1);
  EXPECT_EQ(counter(j, "quarantined"), 1);
  EXPECT_NE(r.err.find(m_obj_a.path), std::string::npos) << r.err;
  EXPECT_FALSE(exists(m_obj_a.path));
  const auto quarantined = list_dir(store() + "/quarantine");
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_EQ(stat_path(store() + "/quarantine/" + quarantined[0]).ino, m_obj_a.ino);
  // The guests keep their files (the corruption shows there: same inode).
  EXPECT_EQ(stat_path(g(1, "usr/bin/a")).ino, m_obj_a.ino);
  EXPECT_EQ(stat_path(g(1, "usr/bin/a")).nlink, 4u);

  r = store_cmd("fsck");
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  j = r.json();
  EXPECT_EQ(counter(j, "checked"), 2);
  EXPECT_EQ(counter(j, "corrupt"), 0);
  EXPECT_EQ(counter(j, "errors"), 0);
}

TEST_P(MaintenanceTest, FsckFindsChangedObjectMetadata)
{
  with_protection_lifted(m_obj_a.path, [&] { ASSERT_EQ(::chmod(m_obj_a.path.c_str(), 0700), 0); });
  with_protection_lifted(m_obj_b.path,
                         [&] { ASSERT_EQ(::setxattr(m_obj_b.path.c_str(), "user.added", "x", 1, 0), 0); });
  with_protection_lifted(m_obj_c.path, [&] {
    const struct timespec times[2] = {{0, UTIME_OMIT}, {1700000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, m_obj_c.path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
  });

  const RunResult r = store_cmd("fsck");
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  const Json j = r.json();
  EXPECT_EQ(counter(j, "checked"), 3);
  EXPECT_EQ(counter(j, "corrupt"), 3);
  EXPECT_NE(r.err.find(m_obj_a.path), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(m_obj_b.path), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(m_obj_c.path), std::string::npos) << r.err;
}

TEST_P(MaintenanceTest, FsckFindsAChmodOfOneObject)
{
  with_protection_lifted(m_obj_b.path, [&] { ASSERT_EQ(::chmod(m_obj_b.path.c_str(), 0640), 0); });
  const RunResult r = store_cmd("fsck", {"--jobs", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(counter(r.json(), "corrupt"), 1);
  EXPECT_NE(r.err.find(m_obj_b.path), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(m_obj_a.path), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(m_obj_c.path), std::string::npos) << r.err;
}

// ---- status ---------------------------------------------------------------------

TEST_P(MaintenanceTest, StatusReportsExactNumbersPerRoot)
{
  write_file(g(2, "usr/lib/d"), sized_spec(80, "d"));  // not scanned yet
  const RunResult r = run_pkgunify({"status", "--json", "--store", store(), m_roots[0], m_roots[1], m_roots[2]});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const Json j = r.json();
  EXPECT_EQ(j.at("command"), "status");
  EXPECT_EQ(j.at("store"), store());
  ASSERT_EQ(j.at("roots").size(), 3u);

  const Json& g1 = j.at("roots").at(0);
  EXPECT_EQ(g1.at("root"), m_roots[0]);
  EXPECT_EQ(counter(g1, "files"), 5);
  EXPECT_EQ(counter(g1, "bytes"), 100 + 200 + 50 + 300 + 10);
  EXPECT_EQ(counter(g1, "candidates"), 3);
  EXPECT_EQ(counter(g1, "candidate_bytes"), 350);
  EXPECT_EQ(counter(g1, "unified_files"), 3);
  EXPECT_EQ(counter(g1, "unified_bytes"), 350);
  EXPECT_EQ(counter(g1, "saved_bytes"), 100 * 2 / 3 + 200 * 1 / 2);
  EXPECT_EQ(g1.at("modes"), Json({{expected_link_mode(), 3}}));

  const Json& g2 = j.at("roots").at(1);
  EXPECT_EQ(g2.at("root"), m_roots[1]);
  EXPECT_EQ(counter(g2, "files"), 2);
  EXPECT_EQ(counter(g2, "bytes"), 300);
  EXPECT_EQ(counter(g2, "candidates"), 2);
  EXPECT_EQ(counter(g2, "candidate_bytes"), 300);
  EXPECT_EQ(counter(g2, "unified_files"), 2);
  EXPECT_EQ(counter(g2, "unified_bytes"), 300);
  EXPECT_EQ(counter(g2, "saved_bytes"), 66 + 100);
  EXPECT_EQ(g2.at("modes"), Json({{expected_link_mode(), 2}}));

  const Json& g3 = j.at("roots").at(2);
  EXPECT_EQ(counter(g3, "files"), 2);
  EXPECT_EQ(counter(g3, "bytes"), 180);
  EXPECT_EQ(counter(g3, "candidates"), 2);
  EXPECT_EQ(counter(g3, "candidate_bytes"), 180);
  EXPECT_EQ(counter(g3, "unified_files"), 1);
  EXPECT_EQ(counter(g3, "unified_bytes"), 100);
  EXPECT_EQ(counter(g3, "saved_bytes"), 66);
  EXPECT_EQ(g3.at("modes"), Json({{expected_link_mode(), 1}}));

  // The text form names each root.
  const RunResult text = run_pkgunify({"status", "--store", store(), m_roots[0]});
  ASSERT_EQ(text.exit_code, 0) << text.describe();
  EXPECT_NE(text.out.find(m_roots[0] + ": 3 of 3 candidate files unified"), std::string::npos) << text.out;
}

TEST_P(MaintenanceTest, StatusAndStoreCommandsWithoutAStoreAreConfigErrors)
{
  const std::string missing = path("no-store");
  RunResult r = run_pkgunify({"status", "--json", "--store", missing, m_roots[0]});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  for (const std::string action : {"stats", "fsck", "gc"}) {
    r = run_pkgunify({"store", action, "--store", missing});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  }
  EXPECT_FALSE(exists(missing));
}

}  // namespace
}  // namespace pkgunify::itest
