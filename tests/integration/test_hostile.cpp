// SPDX-License-Identifier: GPL-2.0-or-later
// Hostile guests: a guest that swaps directories for symlinks while a scan
// runs, rewrites a file while it is hashed, plants hard links to files
// outside its root, or uses odd bytes in names. pkgunify must never read,
// link or rename anything outside the roots and the store, and never share
// content that changed while it was hashed.
#include "reliability.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <thread>

namespace pkgunify::itest {
namespace {

using namespace reliability;
namespace fs = std::filesystem;

class HostileTest : public PerLinkMode
{
protected:
  // Removes the roots and the store (lifting protection first).
  void
  reset(const std::vector<std::string>& roots)
  {
    clear_protection(tmp());
    for (const auto& r : roots) {
      fs::remove_all(r);
    }
    fs::remove_all(store());
  }

  // Objects whose inode is one of `inodes`.
  std::vector<std::string>
  objects_with(const std::set<ino_t>& inodes) const
  {
    std::vector<std::string> out;
    for (const auto& o : store_objects(store())) {
      if (inodes.contains(o.ino)) {
        out.push_back(o.name);
      }
    }
    return out;
  }
};

INSTANTIATE_TEST_SUITE_P(LinkModes, HostileTest, ::testing::Values("immutable", "hardlink"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// Runs `body` in a thread until stop() (or destruction).
class Attacker
{
public:
  explicit Attacker(std::function<void(const std::atomic<bool>&)> body)
    : m_thread([this, b = std::move(body)] { b(m_stop); })
  {}
  ~Attacker() { stop(); }
  Attacker(const Attacker&) = delete;
  Attacker& operator=(const Attacker&) = delete;

  void
  stop()
  {
    m_stop = true;
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }

private:
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

void
spin_us(std::mt19937_64& rng, int max_us)
{
  const auto until =
    std::chrono::steady_clock::now() + std::chrono::microseconds(std::uniform_int_distribution<int>(0, max_us)(rng));
  while (std::chrono::steady_clock::now() < until) {
  }
}

// A guest directory is swapped for a symlink to a directory outside the root
// (holding files identical to the guest's) in a tight loop while scans run.
TEST_P(HostileTest, DirectorySwappedForASymlinkDuringScansNeverLeadsOutside)
{
  auto rng = make_rng("symlink-swap-" + GetParam());
  const auto roots = make_roots(2);
  const std::string secret = path("secret");
  std::vector<FileSpec> specs;
  for (int i = 0; i < 40; ++i) {
    specs.push_back(sized_spec(200 + static_cast<std::size_t>(i) * 97, "secret" + std::to_string(i)));
    write_file(secret + "/s" + std::to_string(i), specs.back());
  }
  write_file(secret + "/sub/deeper", specs[0]);
  const Snapshot secret_before = snapshot(secret);
  std::set<ino_t> secret_inodes;
  for (const auto& [rel, e] : secret_before) {
    secret_inodes.insert(e.ino);
  }
  const std::string victim = roots[0] + "/usr/lib/swap";
  const std::vector<std::string> targets = {secret, "../../../secret", "../../../secret/sub"};

  const int n = trials(8);
  Tally tally;
  tally.kind = "hostile-symlink-swap-" + GetParam();
  for (int t = 0; t < n; ++t) {
    SCOPED_TRACE("trial " + std::to_string(t));
    reset(roots);
    for (int i = 0; i < 40; ++i) {
      for (const auto& r : roots) {
        write_file(r + "/usr/lib/swap/s" + std::to_string(i), specs[static_cast<std::size_t>(i)]);
      }
    }
    write_in_roots(roots, "usr/lib/swap/sub/deeper", specs[0]);
    const Snapshot guest_before = snapshot(roots[0]);
    std::uint64_t swaps = 0;
    {
      auto arng = std::mt19937_64(rng());
      const std::string target = targets[static_cast<std::size_t>(t) % targets.size()];
      Attacker swapper([&](const std::atomic<bool>& stop) {
        while (!stop) {
          if (::rename(victim.c_str(), (victim + ".real").c_str()) != 0) {
            continue;
          }
          ::symlink(target.c_str(), victim.c_str());
          spin_us(arng, 300);
          ::unlink(victim.c_str());
          ::rename((victim + ".real").c_str(), victim.c_str());
          spin_us(arng, 300);
          ++swaps;
        }
      });
      const RunResult r = scan(roots);
      swapper.stop();
      EXPECT_LE(r.exit_code, 1) << r.describe();
    }
    ++tally.trials;
    // Nothing outside the roots changed: same inodes, link counts, content,
    // metadata, no protection flag, no temporary name.
    const auto outside = diff_snapshots(secret_before, snapshot(secret));
    EXPECT_TRUE(outside.empty()) << join_lines(outside);
    const auto in_store = objects_with(secret_inodes);
    EXPECT_TRUE(in_store.empty()) << join_lines(in_store);
    // The guest lost nothing either.
    const auto guest = guest_problems(guest_before, snapshot(roots[0]), false);
    EXPECT_TRUE(guest.empty()) << join_lines(guest);
    tally.lost += outside.empty() && in_store.empty() && guest.empty() ? 0 : 1;
    EXPECT_GT(swaps, 0u);
  }
  tally.print();
}

// A guest rewrites its files in place (restoring the old mtime afterwards,
// so that only the ctime tells) while scans hash them. Protected objects
// (immutable) must stay exactly what was hashed (fsck), and the other guest,
// which has the original content, must never see one of those writes.
TEST_P(HostileTest, FileRewrittenWhileHashedNeverReachesAnotherGuest)
{
  if (GetParam() == "hardlink") {
    GTEST_SKIP() << "hardlink mode trusts its guests: a write into a unified file reaches every guest by design "
                    "(docs/link-modes.md)";
  }
  auto rng = make_rng("rewrite-" + GetParam());
  const auto roots = make_roots(2);
  // One file above the 1 MiB in-memory limit (copied while read), one below.
  const std::vector<std::pair<std::string, std::size_t>> files = {{"usr/lib/big", 3u << 20},
                                                                  {"usr/lib/small", 64u << 10}};
  const int n = trials(8);
  Tally tally;
  tally.kind = "hostile-rewrite-" + GetParam();
  int linked_while_written = 0;
  for (int t = 0; t < n; ++t) {
    SCOPED_TRACE("trial " + std::to_string(t));
    reset(roots);
    std::map<std::string, std::string> original;
    for (const auto& [rel, size] : files) {
      const FileSpec v0 = sized_spec(size, rel + "-v0");
      write_in_roots(roots, rel, v0);
      original[rel] = v0.content;
    }
    std::uint64_t writes = 0;
    {
      auto arng = std::mt19937_64(rng());
      Attacker writer([&](const std::atomic<bool>& stop) {
        for (int k = 1; !stop; ++k) {
          for (const auto& [rel, size] : files) {
            const std::string p = roots[0] + "/" + rel;
            const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0) {
              continue;  // immutable now: linked to an object
            }
            std::string content(size, '\0');
            for (std::size_t i = 0; i < size; ++i) {
              content[i] = static_cast<char>('a' + (k + i / 4096) % 26);
            }
            // Half, a pause, the other half: a reader in between sees a mix.
            if (::pwrite(fd, content.data(), size / 2, 0) > 0) {
              spin_us(arng, 200);
              if (::pwrite(fd, content.data() + size / 2, size - size / 2, static_cast<off_t>(size / 2)) > 0) {
                ++writes;
              }
            }
            const struct timespec times[2] = {{0, UTIME_OMIT}, FileSpec().mtime};
            ::futimens(fd, times);
            ::close(fd);
          }
          spin_us(arng, 2000);
        }
      });
      for (int s = 0; s < 3; ++s) {
        const RunResult r = scan(roots, {"--jobs", "2"});
        EXPECT_LE(r.exit_code, 1) << r.describe();
      }
      writer.stop();
    }
    ++tally.trials;
    bool lost = false;
    for (const auto& [rel, size] : files) {
      if (read_file(roots[1] + "/" + rel) != original[rel]) {
        lost = true;
        ADD_FAILURE() << roots[1] << "/" << rel << " received the other guest's writes";
      }
      if (stat_path(roots[0] + "/" + rel).ino != stat_path(roots[1] + "/" + rel).ino
          && object_with_inode(store(), stat_path(roots[0] + "/" + rel).ino)) {
        ++linked_while_written;  // linked to an object of a state it had
      }
    }
    const RunResult fsck = store_cmd("fsck");
    if (fsck.exit_code != 0) {
      lost = true;
      ADD_FAILURE() << fsck.describe();
    }
    EXPECT_TRUE(find_temp_names(tmp()).empty());
    EXPECT_GT(writes, 0u);
    tally.lost += lost ? 1 : 0;
  }
  RecordProperty("linked_while_written", linked_while_written);
  tally.print();
}

// ---- issue #15: races on the lift windows, locks, kills --------------------

// Guest 1's root loops on everything a root may do to its own unified files
// (open for writing and write, truncate, chmod, chown, setxattr, flock)
// while scans link four more guests to the same objects, split and release
// run: every lift of a shared inode is a window for it. No other guest's
// file may change, in content or metadata, and every run must finish.
TEST_P(HostileTest, RacesOnLiftedSharedFilesNeverReachAnotherGuest)
{
  if (GetParam() == "hardlink") {
    GTEST_SKIP() << "hardlink mode lifts nothing and protects nothing: its guests are trusted (docs/link-modes.md)";
  }
  auto rng = make_rng("lift-window-" + GetParam());
  const int n = trials(3);
  Tally tally;
  tally.kind = "hostile-lift-window-" + GetParam();
  int seen = 0;
  std::uint64_t tries = 0;
  for (int t = 0; t < n; ++t) {
    SCOPED_TRACE("trial " + std::to_string(t));
    reset(make_roots(6));
    const auto roots = make_roots(6);
    std::vector<std::string> files;
    for (int k = 0; k < 24; ++k) {
      files.push_back("usr/lib/f" + std::to_string(k));
      write_in_roots(roots, files.back(), sized_spec(8192, "lift-" + std::to_string(k)));
    }
    std::vector<Snapshot> others;
    for (std::size_t g = 1; g < roots.size(); ++g) {
      others.push_back(snapshot(roots[g]));
    }
    ASSERT_EQ(scan({roots[0], roots[1]}).exit_code, 0);
    std::string errors;
    {
      auto arng = std::mt19937_64(rng());
      Attacker guest([&](const std::atomic<bool>& stop) {
        while (!stop) {
          const std::string p = roots[0] + "/" + files[arng() % files.size()];
          ++tries;
          switch (arng() % 6) {
          case 0:
            if (const int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC | O_NONBLOCK); fd >= 0) {
              (void)!::pwrite(fd, "EVIL", 4, 0);
              ::close(fd);
            }
            break;
          case 1:
            (void)!::truncate(p.c_str(), 1);
            break;
          case 2:
            (void)!::chmod(p.c_str(), 04777);
            break;
          case 3:
            (void)!::chown(p.c_str(), 4242, 4242);
            break;
          case 4:
            (void)!::setxattr(p.c_str(), "user.evil", "1", 1, 0);
            break;
          default:
            if (const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
              ::flock(fd, LOCK_EX);
              std::this_thread::sleep_for(std::chrono::microseconds(500));
              ::close(fd);
            }
          }
        }
      });
      const RunResult r = scan(roots, {"--jobs", "2"});
      EXPECT_FALSE(r.timed_out) << r.describe();
      EXPECT_LE(r.exit_code, 1) << r.describe();
      errors += r.err;
      const RunResult sp = run_pkgunify({"split", roots[2] + "/" + files[0]}, 60);
      const RunResult rel = run_pkgunify({"release", roots[3] + "/" + files[1]}, 60);
      EXPECT_FALSE(sp.timed_out || rel.timed_out);
      errors += sp.err + rel.err;
      guest.stop();
    }
    ++tally.trials;
    seen += errors.find("while its protection was lifted") != std::string::npos ? 1 : 0;
    bool lost = false;
    for (std::size_t g = 1; g < roots.size(); ++g) {
      const auto problems = guest_problems(others[g - 1], snapshot(roots[g]), false);
      if (!problems.empty()) {
        lost = true;
        ADD_FAILURE() << roots[g] << " changed:\n" << join_lines(problems) << "\n" << errors;
      }
    }
    tally.lost += lost ? 1 : 0;
    const RunResult fsck = store_cmd("fsck");
    tally.failed += fsck.exit_code != 0 ? 1 : 0;
    EXPECT_EQ(fsck.exit_code, 0) << fsck.describe();
  }
  RecordProperty("windows_seen_tampered", seen);
  std::cout << "reliability: " << tally.kind << " " << tries << " guest calls, " << seen
            << " trials where a lift saw a change\n";
  tally.print();
}

// A guest's root holds flock(LOCK_EX) and flock(LOCK_SH) on its own unified
// files (the shared inodes): scan, split, release, unprotect and gc never
// wait on it, since pkgunify locks only files of its own.
TEST_P(HostileTest, GuestLocksOnSharedInodesStallNothing)
{
  Tally tally;
  tally.kind = "hostile-flock-" + GetParam();
  const auto roots = make_roots(3);
  for (const char* f : {"usr/bin/a", "usr/bin/b", "usr/bin/c"}) {
    write_in_roots(roots, f, sized_spec(6000, f));
  }
  ASSERT_EQ(scan({roots[0], roots[1]}).exit_code, 0);
  const int ex = ::open((roots[0] + "/usr/bin/a").c_str(), O_RDONLY | O_CLOEXEC);
  const int sh = ::open((roots[0] + "/usr/bin/b").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(ex, 0);
  ASSERT_GE(sh, 0);
  ASSERT_EQ(::flock(ex, LOCK_EX), 0);
  ASSERT_EQ(::flock(sh, LOCK_SH), 0);
  const auto start = std::chrono::steady_clock::now();
  std::vector<RunResult> runs;
  runs.push_back(scan(roots, {}, store()));
  runs.push_back(run_pkgunify({"split", roots[1] + "/usr/bin/a"}, 60));
  runs.push_back(run_pkgunify({"release", roots[2] + "/usr/bin/b"}, 60));
  runs.push_back(store_cmd("unprotect"));
  runs.push_back(store_cmd("gc"));
  for (const auto& r : runs) {
    ++tally.trials;
    tally.failed += (r.timed_out || r.exit_code != 0) ? 1 : 0;
    EXPECT_FALSE(r.timed_out) << r.describe();
    EXPECT_EQ(r.exit_code, 0) << r.describe();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  EXPECT_EQ(stat_path(roots[1] + "/usr/bin/a").nlink, 1u);
  ::close(ex);
  ::close(sh);
  tally.print();
}

// SIGKILL at random moments of scans that link a new guest to protected
// objects (so inside lift windows, some of the time): whatever a kill left
// unprotected, the next pkgunify run of any kind protects again from the
// lift journal before it does anything else.
TEST_P(HostileTest, AKillInALiftWindowIsProtectedAgainByTheNextRun)
{
  if (GetParam() == "hardlink") {
    GTEST_SKIP() << "hardlink mode lifts nothing";
  }
  auto rng = make_rng("kill-lift-" + GetParam());
  const int n = trials(6);
  Tally tally;
  tally.kind = "crash-lift-window-" + GetParam();
  int left_lifted = 0;
  const auto roots = make_roots(2);
  for (int k = 0; k < 800; ++k) {
    write_in_roots({roots[0]}, "usr/lib/f" + std::to_string(k), sized_spec(3000, "kill-" + std::to_string(k)));
  }
  ASSERT_EQ(scan({roots[0]}).exit_code, 0);
  // Shared objects (a guest name besides the store's) without their flag.
  auto unprotected = [&] {
    int count = 0;
    for (const auto& o : store_objects(store())) {
      count += (o.nlink >= 3 && !has_immutable_flag(o.path)) ? 1 : 0;
    }
    return count;
  };
  std::chrono::microseconds full{0};
  for (int t = -1; t < n; ++t) {
    SCOPED_TRACE("trial " + std::to_string(t));
    clear_protection(roots[1]);
    fs::remove_all(roots[1]);
    for (int k = 0; k < 800; ++k) {
      write_in_roots({roots[1]}, "usr/lib/f" + std::to_string(k), sized_spec(3000, "kill-" + std::to_string(k)));
    }
    const Snapshot before = snapshot(roots[1]);
    std::vector<std::string> args{PKGUNIFY_BINARY, "scan",   "--store", store(),  "--link",
                                  GetParam(),      "--jobs", "1",       roots[0], roots[1]};
    if (t < 0) {  // how long an uninterrupted run takes: the kills fall inside it
      const auto start = std::chrono::steady_clock::now();
      ASSERT_EQ(run_command(args).exit_code, 0);
      full = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
      continue;
    }
    const auto delay =
      std::chrono::microseconds(std::uniform_int_distribution<long>(full.count() / 5, full.count())(rng));
    ++tally.trials;
    if (run_and_kill(args, delay, path("kill.log"))) {
      ++tally.killed;
    }
    left_lifted += unprotected() > 0 ? 1 : 0;
    const RunResult next = store_cmd("stats");
    EXPECT_EQ(next.exit_code, 0) << next.describe();
    const int still = unprotected();
    EXPECT_EQ(still, 0) << "shared objects left unprotected after the next run";
    const auto problems = guest_problems(before, snapshot(roots[1]), true);
    tally.lost += problems.empty() ? 0 : 1;
    EXPECT_TRUE(problems.empty()) << join_lines(problems);
    tally.failed += still > 0 ? 1 : 0;
  }
  RecordProperty("kills_that_left_a_lift", left_lifted);
  std::cout << "reliability: " << tally.kind << " " << left_lifted << " kills left a shared object lifted\n";
  tally.print();
}

// Issue #15, item 2: adopting a guest's inode as the object while a guest
// process holds it open for writing let that process write into every
// guest later linked to it (XFS and btrfs let writes through such an fd
// after the flag). Adoption is now proven by a read lease, else the object
// is a copy: the held fd keeps writing to the guest's old inode only.
TEST_P(HostileTest, AFileHeldOpenForWritingIsCopiedNotAdopted)
{
  const auto roots = make_roots(2);
  const FileSpec v0 = sized_spec(20000, "held");
  write_in_roots(roots, "usr/lib/held", v0);
  const int w = ::open((roots[0] + "/usr/lib/held").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(w, 0);
  const ino_t held_ino = stat_path(roots[0] + "/usr/lib/held").ino;
  const RunResult r = scan(roots, {"--create", "adopt"});
  ASSERT_EQ(r.exit_code, 0) << r.describe();
  const bool protects = GetParam() != "hardlink";
  if (protects) {
    // Whichever guest's inode the committer meets first is adopted: the
    // other's (g2), or a checked copy of the held one (with a warning).
    EXPECT_FALSE(object_with_inode(store(), held_ino)) << "the held inode became the object";
  }
  EXPECT_EQ(stat_path(roots[0] + "/usr/lib/held").ino, stat_path(roots[1] + "/usr/lib/held").ino);
  ASSERT_EQ(::pwrite(w, "EVIL", 4, 0), 4);  // into the old inode (protected modes), or the shared one (hardlink)
  ::close(w);
  if (protects) {
    EXPECT_EQ(read_file(roots[1] + "/usr/lib/held"), v0.content);
    EXPECT_EQ(read_file(roots[0] + "/usr/lib/held"), v0.content);
  }
}

// A guest file that is a hard link to a file outside every root (planted, or
// left by a move): the outside file never becomes a store object, never gets
// the protection flag and keeps its content, in copy and in adopt mode.
TEST_P(HostileTest, HardLinkToAFileOutsideTheRootsNeverReachesTheStore)
{
  for (const std::string create : {"copy", "adopt"}) {
    SCOPED_TRACE("create: " + create);
    const auto roots = make_roots(2);
    reset(roots);
    const std::string outside = path("outside/shadow");
    const FileSpec spec = sized_spec(5000, "shadow");
    write_file(outside, spec);
    make_dirs(roots[0] + "/usr/bin");
    ASSERT_EQ(::link(outside.c_str(), (roots[0] + "/usr/bin/tool").c_str()), 0);
    // And two names of one inode inside the roots, which adopt may take.
    write_file(roots[0] + "/usr/lib/a", sized_spec(3000, "inside"));
    make_dirs(roots[1] + "/usr/lib");
    ASSERT_EQ(::link((roots[0] + "/usr/lib/a").c_str(), (roots[1] + "/usr/lib/a").c_str()), 0);
    const FileStat before = stat_path(outside);

    const Json j = scan_ok(roots, {"--create", create});
    EXPECT_EQ(counter(j, "errors"), 0);
    const FileStat after = stat_path(outside);
    EXPECT_EQ(after.ino, before.ino);
    EXPECT_EQ(read_file(outside), spec.content);
    EXPECT_EQ(after.mode, before.mode);
    EXPECT_EQ(after.mtime_ns, before.mtime_ns);
    EXPECT_FALSE(has_immutable_flag(outside));
    EXPECT_TRUE(objects_with({before.ino}).empty()) << "the outside file became a store object";
    // The guest's name was unified all the same, with a copy.
    const ino_t tool = stat_path(roots[0] + "/usr/bin/tool").ino;
    EXPECT_NE(tool, before.ino);
    EXPECT_TRUE(object_with_inode(store(), tool).has_value());
    EXPECT_EQ(read_file(roots[0] + "/usr/bin/tool"), spec.content);
    EXPECT_EQ(stat_path(roots[0] + "/usr/lib/a").ino, stat_path(roots[1] + "/usr/lib/a").ino);
    EXPECT_TRUE(object_with_inode(store(), stat_path(roots[0] + "/usr/lib/a").ino).has_value());
    EXPECT_EQ(store_cmd("fsck").exit_code, 0);
    clear_protection(tmp());
    fs::remove_all(path("outside"));
  }
}

// Names with newlines, invalid UTF-8, leading dashes, glob characters and
// the full 255 bytes are unified like any other, and every command's JSON
// output stays valid.
TEST_P(HostileTest, OddBytesInNamesAreUnifiedAndReportedAsValidJson)
{
  const auto roots = make_roots(2);
  const std::vector<std::string> names = {"new\nline",
                                          std::string("bad\xff\xfe\x80utf8"),
                                          "-n",
                                          "--help",
                                          "sp ace*?[a-z]{x}",
                                          "back\\slash",
                                          "tab\tand\x01ctl",
                                          std::string(255, 'L'),
                                          "'quote\"",
                                          std::string("\xe2\x80\x8b") + "zero-width"};
  for (std::size_t i = 0; i < names.size(); ++i) {
    write_in_roots(roots, "usr/lib/odd/" + names[i], sized_spec(100 + i, "odd" + std::to_string(i)));
  }
  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "linked"), static_cast<std::int64_t>(2 * names.size()));
  EXPECT_EQ(counter(j, "errors"), 0);
  for (const auto& name : names) {
    EXPECT_EQ(stat_path(roots[0] + "/usr/lib/odd/" + name).ino, stat_path(roots[1] + "/usr/lib/odd/" + name).ino);
  }
  const RunResult status = run_pkgunify({"status", "--json", "--files", "--store", store(), roots[0]});
  ASSERT_EQ(status.exit_code, 0) << status.describe();
  EXPECT_NO_THROW((void)status.json()) << status.describe();
  std::vector<std::string> args = {"release", "--json"};
  for (const auto& name : names) {
    args.push_back(roots[0] + "/usr/lib/odd/" + name);
  }
  const RunResult released = run_pkgunify(args);
  ASSERT_EQ(released.exit_code, 0) << released.describe();
  EXPECT_NO_THROW((void)released.json()) << released.describe();
  for (const auto& name : names) {
    EXPECT_EQ(stat_path(roots[0] + "/usr/lib/odd/" + name).nlink, 1u);
  }
  // An invalid byte in an error message (a root that does not exist).
  const RunResult missing = scan({roots[0] + "/no\xff" + "such"});
  EXPECT_EQ(missing.exit_code, 2) << missing.describe();
  EXPECT_TRUE(find_temp_names(tmp()).empty());
}

// Issue #15, item 9: the dpkg hook's only check that a root is not the host
// was shell (${DPKG_ROOT#/}): "/usr/.." or a symlink to "/" passed, and the
// binary took the host's "/" as a guest. Now the binary refuses any root
// that is the host's root directory (same device and inode) unless --host
// asks for it, in hook mode with a message and exit status 0.
class HostRootTest : public IntegrationTest
{};

TEST_F(HostRootTest, HookCommandsRefuseTheHostsRootHoweverItIsSpelt)
{
  make_symlink("/", path("to-host"));
  const std::string policy = path("policy.yaml");
  write_text(policy, "store: " + store() + "\nlink: hardlink\n");
  struct stat env_before;
  ASSERT_EQ(::stat("/usr/bin/env", &env_before), 0);
  for (const std::string& root : {std::string("/"), std::string("/usr/.."), path("to-host"), path("to-host/")}) {
    for (const char* command : {"sync", "dpkg-release", "unify-files"}) {
      const RunResult r = run_pkgunify({command, "--root", root, "--policy", policy, "--log", path("hook.log")});
      EXPECT_EQ(r.exit_code, 2) << r.describe();
      EXPECT_NE(r.err.find("is the host's root directory"), std::string::npos) << r.describe();
      const RunResult hook =
        run_pkgunify({command, "--hook", "--root", root, "--policy", policy, "--log", path("hook.log")});
      EXPECT_EQ(hook.exit_code, 0) << hook.describe();
      EXPECT_NE(hook.err.find("is the host's root directory"), std::string::npos) << hook.describe();
    }
    // DPKG_ROOT, as dpkg sets it for its hooks, is checked the same way.
    const RunResult env = run_command({"env", "DPKG_ROOT=" + root, PKGUNIFY_BINARY, "sync", "--policy", policy});
    EXPECT_EQ(env.exit_code, 2) << env.describe();
    EXPECT_NE(env.err.find("is the host's root directory"), std::string::npos) << env.describe();
  }
  EXPECT_FALSE(exists(store()));
  struct stat env_after;
  ASSERT_EQ(::stat("/usr/bin/env", &env_after), 0);
  EXPECT_EQ(env_after.st_ino, env_before.st_ino);
  EXPECT_EQ(env_after.st_nlink, env_before.st_nlink);
  // With --host the root check lets it through (here to the next error: no
  // package database is asked for).
  const RunResult host = run_pkgunify({"sync", "--host", "--db", "none", "--root", "/", "--policy", policy});
  EXPECT_EQ(host.err.find("is the host's root directory"), std::string::npos) << host.describe();
  EXPECT_NE(host.err.find("needs a package database"), std::string::npos) << host.describe();
  // A guest's root is no host.
  make_dirs(path("guest/var/lib/dpkg"));
  const RunResult guest = run_pkgunify({"sync", "--db", "none", "--root", path("guest"), "--policy", policy});
  EXPECT_EQ(guest.err.find("is the host's root directory"), std::string::npos) << guest.describe();
}

}  // namespace
}  // namespace pkgunify::itest
