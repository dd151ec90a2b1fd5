// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify scan` on real trees: results are checked by inode numbers, link
// counts and byte comparison, never by trusting pkgunify's own report alone.
#include "harness.hpp"
#include "pkgbuild.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pkgunify::itest {
namespace {

// Every test runs twice: in the default link mode (no --link: auto, which is
// immutable on a kernel without Linux-VServer) and in plain hardlink mode.
class ScanTest
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
  }

  // The mode the scan reports. `auto` resolves to immutable here (a mainline
  // kernel: link_fallback, by default immutable).
  [[nodiscard]] std::string
  expected_link_mode() const
  {
    return GetParam() == "default" ? "immutable" : GetParam();
  }

  // True when unified files are immutable.
  [[nodiscard]] bool
  protects() const
  {
    return expected_link_mode() == "immutable";
  }
};

INSTANTIATE_TEST_SUITE_P(LinkModes, ScanTest, ::testing::Values("default", "hardlink"),
                         [](const ::testing::TestParamInfo<std::string>& param) { return param.param; });

// security.capability as setcap writes it: VFS_CAP_REVISION_2 with the
// effective flag, permitted = CAP_NET_RAW (bit 13), little endian.
const std::string k_cap_net_raw("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);

// 1. Identical files of three roots become one inode: the store object.
TEST_P(ScanTest, IdenticalFilesInThreeRootsBecomeOneStoreObject)
{
  const auto roots = make_roots(3);
  const FileSpec spec = sized_spec(1000, "tool");
  write_in_roots(roots, "usr/bin/tool", spec);
  std::vector<ino_t> original;
  for (const auto& r : roots) {
    original.push_back(stat_path(r + "/usr/bin/tool").ino);
  }
  const std::string expected_name = expected_object_name(roots[0] + "/usr/bin/tool");

  const Json j = scan_ok(roots);
  EXPECT_EQ(j.at("command"), "scan");
  EXPECT_EQ(j.at("store"), store());
  EXPECT_EQ(j.at("dry_run"), false);
  EXPECT_EQ(j.at("create"), "copy");
  EXPECT_EQ(j.at("link_mode"), expected_link_mode());
  EXPECT_EQ(counter(j, "protection_fixed"), 0);
  EXPECT_EQ(counter(j, "files_seen"), 3);
  EXPECT_EQ(counter(j, "candidates"), 3);
  EXPECT_EQ(counter(j, "linked"), 3);
  EXPECT_EQ(counter(j, "already_linked"), 0);
  EXPECT_EQ(counter(j, "objects_created"), 1);
  EXPECT_EQ(counter(j, "bytes_read"), 3000);
  EXPECT_EQ(counter(j, "bytes_saved"), 2000);  // three inodes freed, one object made
  EXPECT_EQ(counter(j, "leftovers_cleaned"), 0);
  EXPECT_EQ(counter(j, "errors"), 0);

  const FileStat first = stat_path(roots[0] + "/usr/bin/tool");
  for (const auto& r : roots) {
    const FileStat st = stat_path(r + "/usr/bin/tool");
    EXPECT_EQ(st.ino, first.ino) << r;
    EXPECT_EQ(st.nlink, 4u) << r;  // three guests + the store
    EXPECT_EQ(read_file(r + "/usr/bin/tool"), spec.content) << r;
    EXPECT_EQ(has_immutable_flag(r + "/usr/bin/tool"), protects()) << r;
  }
  for (const ino_t ino : original) {
    EXPECT_NE(first.ino, ino) << "create: copy makes the object a fresh inode";
  }

  const auto objects = store_objects(store());
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].ino, first.ino);
  EXPECT_EQ(objects[0].nlink, 4u);
  EXPECT_EQ(objects[0].name, expected_name);
  EXPECT_EQ(objects[0].name.size(), 2u + 1u + 62u);
  EXPECT_EQ(read_file(objects[0].path), spec.content);
  EXPECT_EQ(read_file(store() + "/format"), "pkgunify-store 1\n");
  EXPECT_TRUE(list_dir(store() + "/tmp").empty());
  EXPECT_TRUE(find_temp_names(tmp()).empty()) << join_lines(find_temp_names(tmp()));
}

// 2. Files that differ only in one piece of metadata never share an inode.
struct Variant
{
  std::string name;
  std::function<void(FileSpec&)> change;
};

// Writes, for each variant, a base file into roots 0 and 2 and a changed one
// into root 1, scans, and checks that only the two base files share.
void
check_variants_stay_apart(const std::vector<std::string>& roots, const std::vector<Variant>& variants,
                          const std::function<Json()>& run_scan, const std::string& store)
{
  std::map<std::string, FileSpec> changed;
  for (const auto& v : variants) {
    FileSpec base = sized_spec(200, v.name);
    base.mode = 0755;
    base.xattrs["user.pkgunify.test"] = "a";
    FileSpec other = base;
    v.change(other);
    write_file(roots[0] + "/usr/share/" + v.name, base);
    write_file(roots[2] + "/usr/share/" + v.name, base);
    write_file(roots[1] + "/usr/share/" + v.name, other);
    changed[v.name] = other;
  }
  const Json j = run_scan();
  const auto n = static_cast<std::int64_t>(variants.size());
  EXPECT_EQ(counter(j, "candidates"), 3 * n);
  EXPECT_EQ(counter(j, "linked"), 3 * n);
  EXPECT_EQ(counter(j, "objects_created"), 2 * n);
  EXPECT_EQ(counter(j, "errors"), 0);
  EXPECT_EQ(store_objects(store).size(), static_cast<std::size_t>(2 * n));

  for (const auto& v : variants) {
    const std::string rel = "/usr/share/" + v.name;
    const FileStat a = stat_path(roots[0] + rel);
    const FileStat b = stat_path(roots[1] + rel);
    const FileStat c = stat_path(roots[2] + rel);
    EXPECT_EQ(a.ino, c.ino) << v.name << ": the two identical files must share";
    EXPECT_EQ(a.nlink, 3u) << v.name;
    EXPECT_NE(a.ino, b.ino) << v.name << ": differs only in " << v.name << " and must not share";
    EXPECT_EQ(b.nlink, 2u) << v.name << ": linked to an object of its own";
    // The odd one out keeps exactly what it had, and so does its object.
    const FileSpec& want = changed.at(v.name);
    EXPECT_EQ(b.mode & 07777, want.mode) << v.name;
    EXPECT_EQ(b.mtime_ns, static_cast<std::int64_t>(want.mtime.tv_sec) * 1000000000 + want.mtime.tv_nsec) << v.name;
    if (want.uid) {
      EXPECT_EQ(b.uid, *want.uid) << v.name;
    }
    if (want.gid) {
      EXPECT_EQ(b.gid, *want.gid) << v.name;
    }
    EXPECT_EQ(list_xattrs(roots[1] + rel), want.xattrs) << v.name;
    EXPECT_EQ(read_file(roots[1] + rel), want.content) << v.name;
    const auto obj = object_with_inode(store, b.ino);
    EXPECT_TRUE(obj.has_value()) << v.name;
    if (obj) {
      EXPECT_EQ(list_xattrs(obj->path), want.xattrs) << v.name;
      EXPECT_EQ(obj->name, expected_object_name(roots[1] + rel)) << v.name;
    }
  }
}

TEST_P(ScanTest, FilesDifferingOnlyInModeMtimeOrUserXattrDoNotShare)
{
  const auto roots = make_roots(3);
  const std::vector<Variant> variants = {
    {"mode", [](FileSpec& s) { s.mode = 0775; }},
    {"setuid-bit", [](FileSpec& s) { s.mode = 04755; }},
    {"mtime-ns", [](FileSpec& s) { s.mtime.tv_nsec += 1; }},
    {"mtime-s", [](FileSpec& s) { s.mtime.tv_sec += 1; }},
    {"user-xattr-value", [](FileSpec& s) { s.xattrs["user.pkgunify.test"] = "b"; }},
    {"user-xattr-extra", [](FileSpec& s) { s.xattrs["user.extra"] = std::string("\0\1\2", 3); }},
    {"user-xattr-missing", [](FileSpec& s) { s.xattrs.clear(); }},
    {"content-same-size", [](FileSpec& s) { s.content[100] = s.content[100] == 'x' ? 'y' : 'x'; }},
  };
  check_variants_stay_apart(
    roots, variants, [&] { return scan_ok(roots); }, store());
}

TEST_P(ScanTest, FilesDifferingOnlyInOwnerGroupOrPrivilegedXattrDoNotShare)
{
  if (!is_root()) {
    GTEST_SKIP() << "needs root: chown, trusted.* and security.capability xattrs";
  }
  const auto roots = make_roots(3);
  std::vector<Variant> variants = {
    {"owner", [](FileSpec& s) { s.uid = 1000; }},
    {"group", [](FileSpec& s) { s.gid = 1000; }},
    {"security-capability", [](FileSpec& s) { s.xattrs["security.capability"] = k_cap_net_raw; }},
    {"trusted-xattr", [](FileSpec& s) { s.xattrs["trusted.pkgunify.test"] = "t"; }},
  };
  // Make the base explicit root:root so that "owner" and "group" differ
  // in exactly one field.
  for (auto& v : variants) {
    auto change = v.change;
    v.change = [change](FileSpec& s) {
      s.uid = 0;
      s.gid = 0;
      change(s);
    };
  }
  check_variants_stay_apart(
    roots, variants, [&] { return scan_ok(roots); }, store());
  // The capability survived on the guest file and on its object.
  const std::string cap_file = roots[1] + "/usr/share/security-capability";
  EXPECT_EQ(list_xattrs(cap_file).at("security.capability"), k_cap_net_raw);
  const auto obj = object_with_inode(store(), stat_path(cap_file).ino);
  ASSERT_TRUE(obj.has_value());
  EXPECT_EQ(list_xattrs(obj->path).at("security.capability"), k_cap_net_raw);
}

// 2b. With ignore_mtime, files that differ only in mtime share; other
// differences still keep them apart.
TEST_P(ScanTest, IgnoreMtimeSharesFilesDifferingOnlyInMtime)
{
  for (const std::string way : {"flag", "policy"}) {
    SCOPED_TRACE(way);
    const auto roots = make_roots(2, way + "-g");
    FileSpec a = sized_spec(500, "mtime-pair");
    FileSpec b = a;
    b.mtime.tv_sec += 3600;
    write_file(roots[0] + "/usr/lib/mtime-pair", a);
    write_file(roots[1] + "/usr/lib/mtime-pair", b);
    FileSpec m = sized_spec(500, "mode-pair");
    FileSpec n = m;
    n.mode = 0600;
    write_file(roots[0] + "/usr/lib/mode-pair", m);
    write_file(roots[1] + "/usr/lib/mode-pair", n);

    const std::string st = path(way + "-store");
    std::vector<std::string> extra;
    if (way == "flag") {
      extra = {"--ignore-mtime"};
    } else {
      write_text(path("ignore-mtime.yaml"), "ignore_mtime: true\n");
      extra = {"--policy", path("ignore-mtime.yaml")};
    }
    const Json j = scan_ok(roots, extra, st);
    EXPECT_EQ(counter(j, "linked"), 4);
    EXPECT_EQ(counter(j, "objects_created"), 3);
    EXPECT_EQ(counter(j, "errors"), 0);
    const FileStat x = stat_path(roots[0] + "/usr/lib/mtime-pair");
    const FileStat y = stat_path(roots[1] + "/usr/lib/mtime-pair");
    EXPECT_EQ(x.ino, y.ino);
    EXPECT_EQ(x.nlink, 3u);
    EXPECT_EQ(read_file(roots[1] + "/usr/lib/mtime-pair"), a.content);
    EXPECT_NE(stat_path(roots[0] + "/usr/lib/mode-pair").ino, stat_path(roots[1] + "/usr/lib/mode-pair").ino);
    EXPECT_EQ(store_objects(st).size(), 3u);
  }
  // Without it, the mtime pair stays apart.
  const auto roots = make_roots(2, "full-g");
  FileSpec a = sized_spec(500, "mtime-pair");
  FileSpec b = a;
  b.mtime.tv_sec += 3600;
  write_file(roots[0] + "/usr/lib/mtime-pair", a);
  write_file(roots[1] + "/usr/lib/mtime-pair", b);
  const Json j = scan_ok(roots, {}, path("full-store"));
  EXPECT_EQ(counter(j, "objects_created"), 2);
  EXPECT_NE(stat_path(roots[0] + "/usr/lib/mtime-pair").ino, stat_path(roots[1] + "/usr/lib/mtime-pair").ino);
}

// 3. Policy: /etc is always private; default excludes; custom policies;
// min_size.
TEST_P(ScanTest, EtcStaysPrivateEvenWhenThePolicyIncludesIt)
{
  const auto roots = make_roots(2);
  const std::vector<std::string> etc = {"etc/passwd", "etc/ssl/certs/ca.pem", "etc/deep/er/file.conf"};
  const std::vector<std::string> shared = {"usr/etc/conf", "usr/bin/prog", "var/lib/state"};
  for (const auto& rel : etc) {
    write_in_roots(roots, rel, sized_spec(400, rel));
  }
  for (const auto& rel : shared) {
    write_in_roots(roots, rel, sized_spec(400, rel));
  }
  std::map<std::string, FileStat> before;
  for (const auto& r : roots) {
    for (const auto& rel : etc) {
      before[r + "/" + rel] = stat_path(r + "/" + rel);
    }
  }
  write_text(path("policy.yaml"), "exclude: []\ninclude: [\"/etc/**\", \"/etc/passwd\", \"etc/**\"]\n");

  const Json j = scan_ok(roots, {"--policy", path("policy.yaml")});
  EXPECT_EQ(counter(j, "candidates"), 6);
  EXPECT_EQ(counter(j, "linked"), 6);
  EXPECT_EQ(counter(j, "errors"), 0);
  for (const auto& [p, st] : before) {
    const FileStat now = stat_path(p);
    EXPECT_EQ(now.ino, st.ino) << p;
    EXPECT_EQ(now.nlink, 1u) << p;
  }
  for (const auto& rel : shared) {
    const FileStat a = stat_path(roots[0] + "/" + rel);
    EXPECT_EQ(a.ino, stat_path(roots[1] + "/" + rel).ino) << rel;
    EXPECT_EQ(a.nlink, 3u) << rel;
  }
  EXPECT_EQ(store_objects(store()).size(), 3u);
}

TEST_P(ScanTest, DefaultExcludesKeepTheirOwnInodes)
{
  const auto roots = make_roots(2);
  const std::vector<std::string> excluded = {"etc/motd.txt",  "var/lib/misc/state.db", "home/user/.bashrc",
                                             "root/.profile", "tmp/scratch.bin",       "run/daemon.pid.data",
                                             "boot/vmlinuz"};
  const std::vector<std::string> shared = {"usr/lib/libc.so.6", "variable/x", "usr/var/lib/y", "opt/home/z"};
  for (const auto& rel : excluded) {
    write_in_roots(roots, rel, sized_spec(300, rel));
  }
  for (const auto& rel : shared) {
    write_in_roots(roots, rel, sized_spec(300, rel));
  }
  std::map<std::string, FileStat> before;
  for (const auto& r : roots) {
    for (const auto& rel : excluded) {
      before[r + "/" + rel] = stat_path(r + "/" + rel);
    }
  }
  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "files_seen"), 8);  // excluded trees are not even walked
  EXPECT_EQ(counter(j, "candidates"), 8);
  EXPECT_EQ(counter(j, "linked"), 8);
  EXPECT_EQ(counter(j, "objects_created"), 4);
  EXPECT_EQ(counter(j, "errors"), 0);
  for (const auto& [p, st] : before) {
    const FileStat now = stat_path(p);
    EXPECT_EQ(now.ino, st.ino) << p;
    EXPECT_EQ(now.nlink, 1u) << p;
  }
  for (const auto& rel : shared) {
    const FileStat a = stat_path(roots[0] + "/" + rel);
    EXPECT_EQ(a.ino, stat_path(roots[1] + "/" + rel).ino) << rel;
    EXPECT_EQ(a.nlink, 3u) << rel;
  }
}

TEST_P(ScanTest, CustomPolicyExcludesAndIncludesAreHonoured)
{
  const auto roots = make_roots(2);
  const std::vector<std::string> excluded = {"usr/share/doc/pkg/README", "usr/lib/python3/mod.pyc", "opt/other/data",
                                             "srv/www/index.pyc"};
  // The file's exclude list replaces the default one: /var is a candidate.
  const std::vector<std::string> shared = {"usr/lib/python3/mod.py", "opt/keep/data", "var/lib/x", "usr/share/docs/y"};
  for (const auto& rel : excluded) {
    write_in_roots(roots, rel, sized_spec(300, rel));
  }
  for (const auto& rel : shared) {
    write_in_roots(roots, rel, sized_spec(300, rel));
  }
  std::map<std::string, FileStat> before;
  for (const auto& r : roots) {
    for (const auto& rel : excluded) {
      before[r + "/" + rel] = stat_path(r + "/" + rel);
    }
  }
  write_text(path("custom.yaml"), "# custom policy\n"
                                  "exclude:\n"
                                  "  - /usr/share/doc/**\n"
                                  "  - \"*.pyc\"\n"
                                  "  - /opt/**\n"
                                  "include: [\"/opt/keep/**\"]\n");
  const Json j = scan_ok(roots, {"--policy", path("custom.yaml")});
  EXPECT_EQ(counter(j, "candidates"), 8);
  EXPECT_EQ(counter(j, "linked"), 8);
  EXPECT_EQ(counter(j, "objects_created"), 4);
  EXPECT_EQ(counter(j, "errors"), 0);
  for (const auto& [p, st] : before) {
    const FileStat now = stat_path(p);
    EXPECT_EQ(now.ino, st.ino) << p;
    EXPECT_EQ(now.nlink, 1u) << p;
  }
  for (const auto& rel : shared) {
    const FileStat a = stat_path(roots[0] + "/" + rel);
    EXPECT_EQ(a.ino, stat_path(roots[1] + "/" + rel).ino) << rel;
    EXPECT_EQ(a.nlink, 3u) << rel;
  }
}

TEST_P(ScanTest, FilesBelowMinSizeAreLeftAlone)
{
  struct Case
  {
    std::string name;
    std::size_t limit;
    std::string policy;  // empty: none
    std::vector<std::string> extra;
  };
  const std::vector<Case> cases = {
    {"default", 16, "", {}},
    {"policy", 100, "min_size: 100\n", {}},
    {"flag-overrides-policy", 100, "min_size: 16\n", {"--min-size", "100"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto roots = make_roots(2, c.name + "-g");
    write_in_roots(roots, "usr/lib/below", sized_spec(c.limit - 1, "below"));
    write_in_roots(roots, "usr/lib/exact", sized_spec(c.limit, "exact"));
    write_in_roots(roots, "usr/lib/above", sized_spec(c.limit + 1, "above"));
    const ino_t below0 = stat_path(roots[0] + "/usr/lib/below").ino;
    const ino_t below1 = stat_path(roots[1] + "/usr/lib/below").ino;
    std::vector<std::string> extra = c.extra;
    if (!c.policy.empty()) {
      write_text(path(c.name + ".yaml"), c.policy);
      extra.push_back("--policy");
      extra.push_back(path(c.name + ".yaml"));
    }
    const Json j = scan_ok(roots, extra, path(c.name + "-store"));
    EXPECT_EQ(counter(j, "files_seen"), 6);
    EXPECT_EQ(counter(j, "candidates"), 4);
    EXPECT_EQ(counter(j, "linked"), 4);
    EXPECT_EQ(skipped(j, "too-small"), 2);
    EXPECT_EQ(stat_path(roots[0] + "/usr/lib/below").ino, below0);
    EXPECT_EQ(stat_path(roots[1] + "/usr/lib/below").ino, below1);
    EXPECT_EQ(stat_path(roots[0] + "/usr/lib/below").nlink, 1u);
    EXPECT_EQ(stat_path(roots[0] + "/usr/lib/exact").ino, stat_path(roots[1] + "/usr/lib/exact").ino);
    EXPECT_EQ(stat_path(roots[0] + "/usr/lib/above").ino, stat_path(roots[1] + "/usr/lib/above").ino);
  }
}

// 4. Content and metadata of every guest file are unchanged by a scan.
TEST_P(ScanTest, ContentAndMetadataOfEveryFileAreUnchanged)
{
  const auto roots = make_roots(3, "roots/g");
  std::map<std::string, FileSpec> files;
  {
    FileSpec s = sized_spec(3000, "su");
    s.mode = 04755;
    files["usr/bin/su"] = s;
  }
  {
    FileSpec s = sized_spec(2500, "sticky");
    s.mode = 01777;
    files["usr/lib/sticky"] = s;
  }
  {
    FileSpec s = sized_spec(700, "xattr");
    s.xattrs = {{"user.mime_type", "text/plain"}, {"user.empty", ""}, {"user.bin", std::string("\0\xff", 2)}};
    files["usr/share/a.txt"] = s;
  }
  files["usr/share/big.bin"] = sized_spec(3 * 1024 * 1024 + 17, "big");  // beyond the 1 MiB buffer
  {
    FileSpec s = sized_spec(64, "old");
    s.mode = 0444;
    s.mtime = {315532800, 999999999};
    files["usr/lib/old"] = s;
  }
  {
    FileSpec s = sized_spec(64, "pre-epoch");
    s.mtime = {-86400, 5};
    files["usr/lib/pre-epoch"] = s;
  }
  if (is_root()) {
    FileSpec n = sized_spec(64, "noperm");
    n.mode = 0;  // only root can read it
    files["usr/lib/noperm"] = n;
    FileSpec s = sized_spec(128, "owned");
    s.uid = 1000;
    s.gid = 1001;
    s.mode = 0600;
    files["usr/lib/owned"] = s;
    FileSpec g = sized_spec(128, "setgid");
    g.gid = 5;
    g.mode = 02755;
    files["usr/bin/wall"] = g;
    FileSpec c = sized_spec(128, "cap");
    c.xattrs["security.capability"] = k_cap_net_raw;
    c.mode = 0755;
    files["usr/bin/ping"] = c;
    FileSpec t = sized_spec(128, "trusted");
    t.xattrs["trusted.overlay.whatever"] = "y";
    files["usr/lib/trusted"] = t;
  }
  for (const auto& [rel, spec] : files) {
    write_in_roots(roots, rel, spec);
  }
  // Some per-root differences.
  FileSpec newer = files.at("usr/lib/old");
  newer.mtime.tv_sec += 1;
  write_file(roots[1] + "/usr/lib/old", newer);
  FileSpec edited = files.at("usr/share/a.txt");
  edited.content[0] = '#';
  write_file(roots[2] + "/usr/share/a.txt", edited);

  const Snapshot before = snapshot(path("roots"));
  const Json j = scan_ok(roots);
  const Snapshot after = snapshot(path("roots"));
  EXPECT_EQ(counter(j, "linked"), static_cast<std::int64_t>(3 * files.size()));
  EXPECT_EQ(counter(j, "objects_created"), static_cast<std::int64_t>(files.size() + 2));
  EXPECT_EQ(counter(j, "errors"), 0);
  // The immutable flag is what the default link mode adds on purpose.
  const auto diff = diff_snapshots(before, after, {.inodes = false, .dir_mtime = false, .protection = !protects()});
  EXPECT_TRUE(diff.empty()) << join_lines(diff);
  // And every file is now an object.
  for (const auto& r : roots) {
    for (const auto& [rel, spec] : files) {
      EXPECT_TRUE(object_with_inode(store(), stat_path(r + "/" + rel).ino).has_value()) << r << "/" << rel;
      EXPECT_EQ(has_immutable_flag(r + "/" + rel), protects()) << r << "/" << rel;
    }
  }
}

// 5. A second scan of unchanged roots reads no content.
TEST_P(ScanTest, SecondScanOfUnchangedRootsReadsNothing)
{
  const auto roots = make_roots(3);
  write_in_roots(roots, "usr/bin/a", sized_spec(1000, "a"));
  write_in_roots(roots, "usr/bin/b", sized_spec(5000, "b"));
  write_file(roots[0] + "/usr/bin/unique", sized_spec(100, "unique"));
  write_file(roots[1] + "/usr/lib/pair", sized_spec(100, "pair"));
  write_file(roots[2] + "/usr/lib/pair", sized_spec(100, "pair"));

  const Json first = scan_ok(roots);
  EXPECT_EQ(counter(first, "linked"), 9);
  EXPECT_EQ(counter(first, "bytes_read"), 3 * 1000 + 3 * 5000 + 100 + 2 * 100);
  const Snapshot between = snapshot(tmp());

  const Json second = scan_ok(roots);
  EXPECT_EQ(counter(second, "bytes_read"), 0);
  EXPECT_EQ(counter(second, "linked"), 0);
  EXPECT_EQ(counter(second, "already_linked"), counter(first, "linked"));
  EXPECT_EQ(counter(second, "objects_created"), 0);
  EXPECT_EQ(counter(second, "candidates"), counter(first, "candidates"));
  EXPECT_EQ(counter(second, "bytes_saved"), 0);
  EXPECT_EQ(counter(second, "protection_fixed"), 0);
  EXPECT_EQ(counter(second, "errors"), 0);
  // The first scan met no file of several links and never read the store's
  // index; the second read it whole (a small one is read at once).
  EXPECT_EQ(counter(first, "store_index_entries"), 0);
  EXPECT_EQ(counter(second, "store_index_entries"), counter(first, "objects_created"));
  const auto diff = diff_snapshots(between, snapshot(tmp()));
  EXPECT_TRUE(diff.empty()) << join_lines(diff);
}

// 6. --dry-run changes nothing and predicts the real run.
TEST_P(ScanTest, DryRunChangesNothingAndPredictsTheRealRun)
{
  const auto roots = make_roots(3);
  write_in_roots({roots[0], roots[1]}, "usr/bin/old", sized_spec(800, "old"));
  scan_ok({roots[0], roots[1]});  // part of it is unified already
  write_in_roots(roots, "usr/bin/new", sized_spec(900, "new"));
  write_file(roots[2] + "/usr/bin/old", sized_spec(800, "old"));
  write_file(roots[2] + "/usr/lib/own", sized_spec(50, "own"));

  const Snapshot before = snapshot(tmp());
  const Json dry = scan_ok(roots, {"--dry-run"});
  const auto diff = diff_snapshots(before, snapshot(tmp()));
  EXPECT_TRUE(diff.empty()) << join_lines(diff);
  EXPECT_EQ(dry.at("dry_run"), true);
  EXPECT_EQ(counter(dry, "linked"), 5);          // 3 x new, old in g3, own
  EXPECT_EQ(counter(dry, "already_linked"), 2);  // old in g1 and g2
  EXPECT_EQ(counter(dry, "objects_created"), 2);
  EXPECT_EQ(counter(dry, "errors"), 0);

  const Json real = scan_ok(roots);
  EXPECT_EQ(counter(real, "linked"), counter(dry, "linked"));
  EXPECT_EQ(counter(real, "already_linked"), counter(dry, "already_linked"));
  EXPECT_EQ(counter(real, "objects_created"), counter(dry, "objects_created"));
  EXPECT_EQ(counter(real, "bytes_saved"), counter(dry, "bytes_saved"));
  EXPECT_EQ(stat_path(roots[2] + "/usr/bin/old").ino, stat_path(roots[0] + "/usr/bin/old").ino);
  EXPECT_EQ(stat_path(roots[2] + "/usr/bin/new").ino, stat_path(roots[0] + "/usr/bin/new").ino);
}

TEST_P(ScanTest, DryRunWithoutAStoreCreatesNothing)
{
  const auto roots = make_roots(3);
  write_in_roots(roots, "usr/bin/tool", sized_spec(1000, "tool"));
  write_file(roots[0] + "/usr/bin/own", sized_spec(100, "own"));
  ASSERT_FALSE(exists(store()));

  const Snapshot before = snapshot(tmp());
  const RunResult r = scan(roots, {"--dry-run"});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_FALSE(exists(store())) << "a dry run must not create the store";
  const auto diff = diff_snapshots(before, snapshot(tmp()));
  EXPECT_TRUE(diff.empty()) << join_lines(diff);
  if (r.exit_code != 0) {
    return;
  }
  const Json dry = r.json();
  EXPECT_EQ(counter(dry, "linked"), 4);
  EXPECT_EQ(counter(dry, "objects_created"), 2);

  const Json real = scan_ok(roots);
  EXPECT_EQ(counter(real, "linked"), counter(dry, "linked"));
  EXPECT_EQ(counter(real, "objects_created"), counter(dry, "objects_created"));
  EXPECT_EQ(counter(real, "bytes_saved"), counter(dry, "bytes_saved"));
}

// 7. Symlinks leading out of a root are never followed.
TEST_P(ScanTest, SymlinksPointingOutsideTheRootAreNotFollowed)
{
  const auto roots = make_roots(2);
  const FileSpec secret = sized_spec(600, "secret");
  const FileSpec inner = sized_spec(700, "inner");
  write_file(path("outside/secret"), secret);
  write_file(path("outside/dir/inner"), inner);
  write_in_roots(roots, "usr/bin/a", secret);
  write_in_roots(roots, "usr/lib/b", inner);
  make_symlink(path("outside/secret"), roots[0] + "/usr/bin/evil");
  make_symlink(path("outside/dir"), roots[0] + "/usr/lib/evil-dir");
  make_symlink("../../../outside/secret", roots[1] + "/usr/lib/rel-evil");
  make_symlink("../../../outside/dir", roots[1] + "/usr/share");

  const FileStat secret_before = stat_path(path("outside/secret"));
  const FileStat inner_before = stat_path(path("outside/dir/inner"));
  const std::vector<std::string> links = {roots[0] + "/usr/bin/evil", roots[0] + "/usr/lib/evil-dir",
                                          roots[1] + "/usr/lib/rel-evil", roots[1] + "/usr/share"};
  std::map<std::string, std::pair<FileStat, std::string>> links_before;
  for (const auto& l : links) {
    links_before[l] = {stat_path(l), read_link(l)};
  }
  const Snapshot outside_before = snapshot(path("outside"));

  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "linked"), 4);
  EXPECT_EQ(counter(j, "objects_created"), 2);
  EXPECT_EQ(skipped(j, "not-regular"), 4);
  EXPECT_EQ(counter(j, "errors"), 0);

  const FileStat secret_after = stat_path(path("outside/secret"));
  EXPECT_EQ(secret_after.ino, secret_before.ino);
  EXPECT_EQ(secret_after.nlink, 1u);
  const FileStat inner_after = stat_path(path("outside/dir/inner"));
  EXPECT_EQ(inner_after.ino, inner_before.ino);
  EXPECT_EQ(inner_after.nlink, 1u);
  const auto diff = diff_snapshots(outside_before, snapshot(path("outside")));
  EXPECT_TRUE(diff.empty()) << join_lines(diff);
  for (const auto& [l, b] : links_before) {
    const FileStat now = stat_path(l);
    EXPECT_TRUE(S_ISLNK(now.mode)) << l;
    EXPECT_EQ(now.ino, b.first.ino) << l;
    EXPECT_EQ(read_link(l), b.second) << l;
  }
  // The guests' own copies were unified as usual.
  EXPECT_EQ(stat_path(roots[0] + "/usr/bin/a").ino, stat_path(roots[1] + "/usr/bin/a").ino);
  EXPECT_EQ(stat_path(roots[0] + "/usr/bin/a").nlink, 3u);
  EXPECT_EQ(stat_path(roots[0] + "/usr/lib/b").ino, stat_path(roots[1] + "/usr/lib/b").ino);
}

// 8. Symlinks, fifos, device nodes and empty files are never touched.
void
make_special_files(const std::string& root, bool devices)
{
  make_symlink("dash", root + "/usr/bin/sh");
  make_symlink("/usr/bin/dash", root + "/usr/bin/sh-abs");
  make_dirs(root + "/usr/lib");
  if (::mkfifo((root + "/usr/lib/fifo").c_str(), 0644) != 0) {
    throw std::runtime_error("mkfifo failed");
  }
  FileSpec empty;
  write_file(root + "/usr/lib/empty", empty);
  if (devices && ::mknod((root + "/usr/lib/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    throw std::runtime_error("mknod failed");
  }
}

TEST_P(ScanTest, SymlinksFifosDevicesAndEmptyFilesAreNeverTouched)
{
  const auto roots = make_roots(2);
  write_in_roots(roots, "usr/bin/dash", sized_spec(4000, "dash"));
  for (const auto& r : roots) {
    make_special_files(r, is_root());
  }
  const Snapshot before = snapshot(tmp());
  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "linked"), 2);
  EXPECT_EQ(counter(j, "errors"), 0);
  EXPECT_EQ(skipped(j, "not-regular"), is_root() ? 8 : 6);
  EXPECT_EQ(skipped(j, "empty"), 2);
  const Snapshot after = snapshot(tmp());
  for (const auto& r : roots) {
    for (const std::string rel : {"usr/bin/sh", "usr/bin/sh-abs", "usr/lib/fifo", "usr/lib/empty", "usr/lib/null"}) {
      const std::string key = r.substr(tmp().size() + 1) + "/" + rel;
      if (!before.contains(key)) {
        continue;  // no device node without root
      }
      ASSERT_TRUE(after.contains(key)) << key;
      const auto diff = diff_snapshots({{key, before.at(key)}}, {{key, after.at(key)}});
      EXPECT_TRUE(diff.empty()) << join_lines(diff);
      EXPECT_EQ(after.at(key).nlink, 1u) << key;
    }
  }
  EXPECT_EQ(stat_path(roots[0] + "/usr/bin/dash").ino, stat_path(roots[1] + "/usr/bin/dash").ino);
}

// A running guest has /proc, /sys, /dev mounted inside its root: the scan
// skips them (another filesystem), and that is no error.
TEST_P(ScanTest, MountsInsideARootAreSkippedQuietly)
{
  if (!is_root()) {
    GTEST_SKIP() << "mounting a tmpfs inside a root needs root";
  }
  const auto roots = make_roots(2);
  write_in_roots(roots, "usr/bin/dash", sized_spec(4000, "dash"));
  make_dirs(roots[0] + "/proc");
  if (shell("mount -t tmpfs none " + roots[0] + "/proc").status != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here";
  }
  write_file(roots[0] + "/proc/inside", sized_spec(4000, "dash"));
  const RunResult r = scan(roots);
  EXPECT_EQ(shell("umount " + roots[0] + "/proc").status, 0);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(counter(r.json(), "linked"), 2);
  EXPECT_EQ(skipped(r.json(), "other-filesystem"), 1);
}

TEST_P(ScanTest, EmptyFilesAreNeverTouchedEvenWithMinSizeZero)
{
  const auto roots = make_roots(2);
  write_in_roots(roots, "usr/bin/dash", sized_spec(4000, "dash"));
  for (const auto& r : roots) {
    make_special_files(r, false);
  }
  const Snapshot before = snapshot(tmp());
  const Json j = scan_ok(roots, {"--min-size", "0"});
  EXPECT_EQ(counter(j, "linked"), 2);
  EXPECT_EQ(counter(j, "errors"), 0);
  EXPECT_EQ(skipped(j, "not-regular"), 6);
  const Snapshot after = snapshot(tmp());
  for (const auto& r : roots) {
    for (const std::string rel : {"usr/bin/sh", "usr/bin/sh-abs", "usr/lib/fifo", "usr/lib/empty"}) {
      const std::string key = r.substr(tmp().size() + 1) + "/" + rel;
      ASSERT_TRUE(after.contains(key)) << key;
      const auto diff = diff_snapshots({{key, before.at(key)}}, {{key, after.at(key)}});
      EXPECT_TRUE(diff.empty()) << join_lines(diff);
    }
  }
}

// 9. A file replaced after a scan is unified again; the old object stays for
// the other roots.
TEST_P(ScanTest, FileReplacedAfterAScanIsReunifiedAndTheOldObjectStays)
{
  const auto roots = make_roots(3);
  const FileSpec v1 = sized_spec(1500, "v1");
  write_in_roots(roots, "usr/bin/tool", v1);
  scan_ok(roots);
  const FileStat shared = stat_path(roots[0] + "/usr/bin/tool");
  const auto old_object = object_with_inode(store(), shared.ino);
  ASSERT_TRUE(old_object.has_value());

  FileSpec v2 = sized_spec(1700, "v2");
  v2.mtime.tv_sec += 100;
  // As a package upgrade does (after the hook's release in a protecting mode).
  make_replaceable(roots[0] + "/usr/bin/tool");
  replace_file(roots[0] + "/usr/bin/tool", v2);
  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "linked"), 1);
  EXPECT_EQ(counter(j, "already_linked"), 2);
  EXPECT_EQ(counter(j, "objects_created"), 1);
  EXPECT_EQ(counter(j, "bytes_read"), 1700);

  const FileStat upgraded = stat_path(roots[0] + "/usr/bin/tool");
  EXPECT_NE(upgraded.ino, shared.ino);
  EXPECT_EQ(upgraded.nlink, 2u);
  EXPECT_EQ(read_file(roots[0] + "/usr/bin/tool"), v2.content);
  const auto new_object = object_with_inode(store(), upgraded.ino);
  ASSERT_TRUE(new_object.has_value());
  EXPECT_NE(new_object->name, old_object->name);

  const FileStat old_now = stat_path(old_object->path);
  EXPECT_EQ(old_now.ino, shared.ino);
  EXPECT_EQ(old_now.nlink, 3u);  // g2, g3 and the store
  for (const auto& r : {roots[1], roots[2]}) {
    EXPECT_EQ(stat_path(r + "/usr/bin/tool").ino, shared.ino) << r;
    EXPECT_EQ(read_file(r + "/usr/bin/tool"), v1.content) << r;
  }

  // The next root to upgrade joins the new object.
  make_replaceable(roots[1] + "/usr/bin/tool");
  replace_file(roots[1] + "/usr/bin/tool", v2);
  const Json k = scan_ok(roots);
  EXPECT_EQ(counter(k, "linked"), 1);
  EXPECT_EQ(counter(k, "objects_created"), 0);
  EXPECT_EQ(stat_path(roots[1] + "/usr/bin/tool").ino, upgraded.ino);
  EXPECT_EQ(stat_path(new_object->path).nlink, 3u);
  EXPECT_EQ(stat_path(old_object->path).nlink, 2u);
  EXPECT_EQ(read_file(roots[2] + "/usr/bin/tool"), v1.content);
  EXPECT_EQ(has_immutable_flag(roots[1] + "/usr/bin/tool"), protects());
  EXPECT_EQ(has_immutable_flag(roots[2] + "/usr/bin/tool"), protects());
}

// 10. Configuration errors: exit status 2 and a precise message.
TEST_P(ScanTest, StoreOnAnotherFilesystemIsRefused)
{
  const auto roots = make_roots(1);
  write_file(roots[0] + "/usr/bin/tool", sized_spec(1000, "tool"));
  const FileStat before = stat_path(roots[0] + "/usr/bin/tool");
  const std::string shm_store = shm_dir() + "/store";
  ASSERT_NE(stat_path("/dev/shm").dev, before.dev) << "/dev/shm must be another filesystem";

  const RunResult r = scan(roots, {}, shm_store);
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find(roots[0]), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(shm_store), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("another filesystem"), std::string::npos) << r.err;
  const FileStat after = stat_path(roots[0] + "/usr/bin/tool");
  EXPECT_EQ(after.ino, before.ino);
  EXPECT_EQ(after.nlink, 1u);
}

TEST_P(ScanTest, BadPolicyFileIsReportedWithFileAndLine)
{
  const auto roots = make_roots(1);
  write_file(roots[0] + "/usr/bin/tool", sized_spec(1000, "tool"));
  struct Case
  {
    std::string name;
    std::string text;
    std::string where;    // expected after the file name: ":LINE:COLUMN:"
    std::string message;  // expected in the message
  };
  const std::vector<Case> cases = {
    {"bad-value.yaml", "# a policy\nmin_size: 16\nignore_mtime: maybe\n", ":3:15:", "expected true or false"},
    {"unknown-key.yaml", "min_size: 16\n\nexlude: [\"/usr/**\"]\n", ":3:1:", "unknown key 'exlude'"},
    {"bad-pattern.yaml", "exclude:\n  - /usr/**\n  - \"/usr/[abc\"\n", ":3:5:", "/usr/[abc"},
    {"syntax.yaml", "min_size: 16\nexclude: [\"/usr/**\"\ncreate: copy\n", ":3:", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string file = path(c.name);
    write_text(file, c.text);
    const RunResult r = scan(roots, {"--policy", file});
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    EXPECT_NE(r.err.find(file + c.where), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
    EXPECT_FALSE(exists(store())) << "nothing may happen with a bad policy";
  }
  const RunResult missing = scan(roots, {"--policy", path("missing.yaml")});
  EXPECT_EQ(missing.exit_code, 2) << missing.describe();
  EXPECT_NE(missing.err.find(path("missing.yaml")), std::string::npos) << missing.err;
  EXPECT_EQ(stat_path(roots[0] + "/usr/bin/tool").nlink, 1u);
}

TEST_P(ScanTest, UsageErrorsGiveExitStatusTwo)
{
  const auto roots = make_roots(1);
  EXPECT_EQ(run_pkgunify({"scan"}).exit_code, 2);
  EXPECT_EQ(run_pkgunify({"scan", "--no-such-option", roots[0]}).exit_code, 2);
  EXPECT_EQ(run_pkgunify({"frobnicate"}).exit_code, 2);
  const RunResult r = scan({path("no-such-root")});
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find(path("no-such-root")), std::string::npos) << r.err;
}

// 11. Without --store and without store: in the policy, the store is
// ".pkgunify-store" at the top of the filesystem that holds the roots.
TEST_P(ScanTest, DefaultStoreIsAtTheTopOfTheRootsFilesystem)
{
  if (!is_root()) {
    GTEST_SKIP() << "needs root to mount a tmpfs";
  }
  const std::string mnt = path("mnt");
  if (!mount_tmpfs(mnt)) {
    GTEST_SKIP() << "cannot mount a tmpfs at " << mnt << ": " << std::strerror(errno);
  }
  const std::vector<std::string> roots = {mnt + "/guests/g1", mnt + "/guests/g2"};
  write_in_roots(roots, "usr/bin/tool", sized_spec(1000, "tool"));
  write_text(path("policy.yaml"), "min_size: 16\n");  // no store:

  std::vector<std::string> args{"scan", "--json", "--policy", path("policy.yaml")};
  for (const auto& a : link_args()) {
    args.push_back(a);
  }
  args.push_back(roots[0]);
  args.push_back(roots[1]);
  const RunResult r = run_pkgunify(args);
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const std::string expected = mnt + "/.pkgunify-store";
  EXPECT_EQ(r.json().at("store"), expected);
  EXPECT_EQ(counter(r.json(), "linked"), 2);
  ASSERT_TRUE(exists(expected + "/format"));
  EXPECT_EQ(read_file(expected + "/format"), "pkgunify-store 1\n");
  const FileStat a = stat_path(roots[0] + "/usr/bin/tool");
  EXPECT_EQ(a.ino, stat_path(roots[1] + "/usr/bin/tool").ino);
  EXPECT_EQ(a.nlink, 3u);
  const auto obj = object_with_inode(expected, a.ino);
  EXPECT_TRUE(obj.has_value());
  EXPECT_FALSE(exists(mnt + "/guests/.pkgunify-store"));
  EXPECT_FALSE(exists(roots[0] + "/.pkgunify-store"));

  // status finds the same default store.
  const RunResult s = run_pkgunify({"status", "--json", "--policy", path("policy.yaml"), roots[0]});
  ASSERT_EQ(s.exit_code, 0) << s.describe();
  EXPECT_EQ(s.json().at("store"), expected);
  EXPECT_EQ(counter(s.json().at("roots").at(0), "unified_files"), 1);
}

// 12. Two scans running at once on overlapping roots with one store.
TEST_P(ScanTest, ConcurrentScansOnOverlappingRootsMakeOneObjectPerContent)
{
  constexpr int k_rounds = 4;
  constexpr int k_files = 150;
  constexpr int k_contents = 25;
  for (int round = 0; round < k_rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string prefix = "r" + std::to_string(round) + "/g";
    const auto roots = make_roots(4, prefix);
    const std::string st = path("r" + std::to_string(round) + "/store");
    std::vector<FileSpec> contents;
    for (int c = 0; c < k_contents; ++c) {
      contents.push_back(sized_spec(64 + static_cast<std::size_t>(c) * 37, "content" + std::to_string(c)));
    }
    std::map<std::string, int> content_of;  // path -> content index
    for (const auto& r : roots) {
      for (int i = 0; i < k_files; ++i) {
        const std::string p = r + "/usr/lib/d" + std::to_string(i % 7) + "/f" + std::to_string(i);
        write_file(p, contents[static_cast<std::size_t>(i % k_contents)]);
        content_of[p] = i % k_contents;
      }
    }
    RunResult a;
    RunResult b;
    std::thread ta([&] { a = scan({roots[0], roots[1], roots[2]}, {"--jobs", "2"}, st); });
    std::thread tb([&] { b = scan({roots[1], roots[2], roots[3]}, {"--jobs", "2"}, st); });
    ta.join();
    tb.join();
    EXPECT_EQ(a.exit_code, 0) << a.describe();
    EXPECT_EQ(b.exit_code, 0) << b.describe();

    const auto objects = store_objects(st);
    EXPECT_EQ(objects.size(), static_cast<std::size_t>(k_contents)) << "exactly one object per content";
    std::map<ino_t, std::string> object_by_ino;
    for (const auto& o : objects) {
      object_by_ino[o.ino] = o.name;
    }
    std::map<int, std::set<ino_t>> inodes_of_content;
    for (const auto& [p, c] : content_of) {
      const FileStat s = stat_path(p);
      EXPECT_TRUE(object_by_ino.contains(s.ino)) << p << " is not linked to an object";
      EXPECT_EQ(has_immutable_flag(p), protects()) << p;
      inodes_of_content[c].insert(s.ino);
    }
    for (const auto& [c, inodes] : inodes_of_content) {
      EXPECT_EQ(inodes.size(), 1u) << "content " << c << " is spread over several inodes";
    }
    const std::size_t per_content = 4 * k_files / k_contents;
    for (const auto& o : objects) {
      EXPECT_EQ(o.nlink, per_content + 1) << o.name;
    }
    EXPECT_TRUE(list_dir(st + "/tmp").empty());
    const auto temps = find_temp_names(path("r" + std::to_string(round)));
    EXPECT_TRUE(temps.empty()) << join_lines(temps);
    if (HasFailure()) {
      break;
    }
  }
}

// 13. Leftover temporary names of an interrupted run are cleaned up.
TEST_P(ScanTest, LeftoversOfAnInterruptedRunAreCleanedUp)
{
  const auto roots = make_roots(2);
  const FileSpec name_spec = sized_spec(900, "name");
  const FileSpec gone_spec = sized_spec(950, "gone");
  write_in_roots(roots, "usr/bin/NAME", name_spec);
  const std::string dir = roots[0] + "/usr/bin";
  const std::string leftover = dir + "/.#pku.01234567.NAME";
  ASSERT_EQ(::link((dir + "/NAME").c_str(), leftover.c_str()), 0);
  // The form of earlier versions is cleaned too.
  const std::string orphan = dir + "/.#pkgunify.fedcba9876543210.GONE";
  write_file(orphan, gone_spec);
  const FileStat orphan_before = stat_path(orphan);

  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "leftovers_cleaned"), 2);
  EXPECT_EQ(counter(j, "errors"), 0);
  EXPECT_FALSE(exists(leftover));
  EXPECT_FALSE(exists(orphan));
  ASSERT_TRUE(exists(dir + "/GONE"));
  const FileStat gone = stat_path(dir + "/GONE");
  EXPECT_EQ(gone.ino, orphan_before.ino);
  EXPECT_EQ(read_file(dir + "/GONE"), gone_spec.content);
  EXPECT_EQ(read_file(dir + "/NAME"), name_spec.content);
  const FileStat name = stat_path(dir + "/NAME");
  EXPECT_EQ(name.ino, stat_path(roots[1] + "/usr/bin/NAME").ino);
  EXPECT_EQ(name.nlink, 3u);  // two guests and the store: the leftover link is gone
  EXPECT_EQ(list_dir(dir), (std::vector<std::string>{"GONE", "NAME"}));
}

// 14. More identical files than ext4 allows links to one inode (65000): the
// store makes a successor object. Slow-ish (65010 inodes): it runs on an
// in-memory ext4 when it can be mounted, as creating that many inodes on the
// disk takes from 2 to 40 s depending on the disk's mood.
TEST_P(ScanTest, HardLinkLimitMakesASuccessorObject)
{
  constexpr int k_count = 65010;
  constexpr int k_per_dir = 1000;
  const std::string content = "identical content for the link limit test\n";
  std::string top = tmp();
  if (mount_ram_ext4(path("ext4"), 256, 140000)) {
    top = path("ext4");
    RecordProperty("filesystem", "in-memory ext4");
  } else {
    RecordProperty("filesystem", "ext4 under /tmp");
  }
  const std::vector<std::string> roots = {top + "/g1"};
  const std::string st = top + "/store";
  const auto start = std::chrono::steady_clock::now();
  const struct timespec times[2] = {{0, UTIME_OMIT}, {1600000000, 42}};
  std::vector<std::string> files;
  files.reserve(k_count);
  for (int i = 0; i < k_count; ++i) {
    const std::string dir = roots[0] + "/usr/share/d" + std::to_string(i / k_per_dir);
    if (i % k_per_dir == 0) {
      make_dirs(dir);
    }
    files.push_back(dir + "/f" + std::to_string(i));
    const int fd = ::open(files.back().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << files.back() << ": " << std::strerror(errno);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    ASSERT_EQ(::fchmod(fd, 0644), 0);
    ASSERT_EQ(::futimens(fd, times), 0);
    ::close(fd);
  }
  const auto written = std::chrono::steady_clock::now();

  const Json j = scan_ok(roots, {}, st);
  const auto scanned = std::chrono::steady_clock::now();
  EXPECT_EQ(counter(j, "candidates"), k_count);
  EXPECT_EQ(counter(j, "linked"), k_count);
  EXPECT_EQ(counter(j, "objects_created"), 2);
  EXPECT_EQ(counter(j, "errors"), 0);

  const auto objects = store_objects(st);
  ASSERT_EQ(objects.size(), 2u);
  EXPECT_EQ(objects[1].name, objects[0].name + ".1");
  EXPECT_EQ(objects[0].nlink, 65000u);
  EXPECT_EQ(objects[1].nlink, static_cast<nlink_t>(k_count - 65000 + 1 + 1));
  std::map<ino_t, int> per_inode;
  for (const auto& f : files) {
    ++per_inode[stat_path(f).ino];
  }
  EXPECT_EQ(per_inode.size(), 2u);
  EXPECT_EQ(per_inode[objects[0].ino], 64999);
  EXPECT_EQ(per_inode[objects[1].ino], k_count - 64999);
  EXPECT_EQ(read_file(objects[1].path), content);
  EXPECT_EQ(has_immutable_flag(objects[0].path), protects());
  EXPECT_EQ(has_immutable_flag(objects[1].path), protects());
  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  RecordProperty("write_ms", static_cast<int>(ms(written - start)));
  RecordProperty("scan_ms", static_cast<int>(ms(scanned - written)));
}

// create: copy (the default) makes objects from the hashed bytes, so a guest
// process that still holds its file open for writing writes into its old,
// private inode, never into the store.
TEST_P(ScanTest, CopyModeKeepsWritersHoldingTheFileOpenOutOfTheStore)
{
  const auto roots = make_roots(2);
  const FileSpec spec = sized_spec(10000, "held");
  write_in_roots(roots, "/usr/bin/held", spec);
  const std::string held = roots[0] + "/usr/bin/held";
  const ino_t original = stat_path(held).ino;
  const int fd = ::open(held.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "linked"), 2);
  const auto object = object_with_inode(store(), stat_path(held).ino);
  ASSERT_TRUE(object.has_value());
  EXPECT_NE(object->ino, original);  // the guest's inode was not adopted
  ASSERT_EQ(::pwrite(fd, "XXXX", 4, 0), 4);
  ::close(fd);
  EXPECT_EQ(read_file(object->path), spec.content);
  EXPECT_EQ(read_file(held), spec.content);
  EXPECT_EQ(read_file(roots[1] + "/usr/bin/held"), spec.content);
}

// New objects wait in groups for one syncfs before anything links to them;
// the group size follows the descriptor limit. Under a low limit (many
// groups), every file of both create modes still ends up linked to the one
// object holding its content.
TEST_P(ScanTest, ManyNewObjectsUnderALowDescriptorLimitAreAllLinked)
{
  constexpr int k_files = 150;  // a limit of 600 allows groups of 22
  for (const std::string create : {"copy", "adopt"}) {
    SCOPED_TRACE(create);
    const auto roots = make_roots(2, create);
    std::vector<std::string> contents;
    for (int i = 0; i < k_files; ++i) {
      const FileSpec spec = sized_spec(100 + static_cast<std::size_t>(i), "file " + std::to_string(i));
      write_in_roots(roots, "/usr/lib/f" + std::to_string(i), spec);
      contents.push_back(spec.content);
    }
    const std::string st = path("store-" + create);
    std::vector<std::string> argv{"prlimit", "--nofile=600:600", PKGUNIFY_BINARY, "scan", "--json", "--store",
                                  st,        "--create",         create};
    const auto link = link_args();
    argv.insert(argv.end(), link.begin(), link.end());
    argv.insert(argv.end(), roots.begin(), roots.end());
    const RunResult r = run_command(argv);
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    const Json j = r.json();
    EXPECT_EQ(counter(j, "linked"), 2 * k_files);
    EXPECT_EQ(counter(j, "objects_created"), k_files);
    EXPECT_EQ(counter(j, "errors"), 0);
    EXPECT_EQ(store_objects(st).size(), static_cast<std::size_t>(k_files));
    for (int i = 0; i < k_files; ++i) {
      const std::string rel = "/usr/lib/f" + std::to_string(i);
      const FileStat a = stat_path(roots[0] + rel);
      EXPECT_EQ(stat_path(roots[1] + rel).ino, a.ino) << rel;
      EXPECT_EQ(a.nlink, 3u) << rel;
      const auto object = object_with_inode(st, a.ino);
      ASSERT_TRUE(object.has_value()) << rel;
      EXPECT_EQ(read_file(object->path), contents[static_cast<std::size_t>(i)]) << rel;
    }
  }
}

// create: adopt links the guest's own inode into the store: no copy.
TEST_P(ScanTest, AdoptModeLinksTheGuestsOwnInode)
{
  const auto roots = make_roots(3);
  write_in_roots(roots, "/usr/lib/lib.so", sized_spec(50000, "lib"));
  std::set<ino_t> originals;
  for (const auto& r : roots) {
    originals.insert(stat_path(r + "/usr/lib/lib.so").ino);
  }
  write_text(path("adopt.yaml"), "create: adopt\n");
  const Json j = scan_ok(roots, {"--policy", path("adopt.yaml")});
  EXPECT_EQ(j["create"], "adopt");
  EXPECT_EQ(counter(j, "objects_created"), 1);
  EXPECT_EQ(counter(j, "linked"), 3);
  const auto objects = store_objects(store());
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_TRUE(originals.contains(objects[0].ino));  // one guest's inode became the object
  for (const auto& r : roots) {
    EXPECT_EQ(stat_path(r + "/usr/lib/lib.so").ino, objects[0].ino);
  }
  EXPECT_EQ(objects[0].nlink, 4u);
  // --create on the command line overrides the policy.
  const Json again = scan_ok(roots, {"--policy", path("adopt.yaml"), "--create", "copy"});
  EXPECT_EQ(again["create"], "copy");
  EXPECT_EQ(counter(again, "already_linked"), 3);
}

}  // namespace
}  // namespace pkgunify::itest
