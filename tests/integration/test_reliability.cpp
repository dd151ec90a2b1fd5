// SPDX-License-Identifier: GPL-2.0-or-later
// Reliability: pkgunify killed with SIGKILL at random moments, runs at the
// same time, a full filesystem. Each test runs a few trials in the normal
// test run; PKGUNIFY_RELIABILITY_TRIALS=N runs N of each kind (the long
// suite, tests/reliability/run). See docs/reliability.md.
#include "reliability.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

namespace pkgunify::itest {
namespace {

using namespace reliability;
namespace fs = std::filesystem;

// `store fsck --json`: empty when clean, else what it found.
std::string
fsck_problems(const std::string& store)
{
  const RunResult r = run_pkgunify({"store", "fsck", "--json", "--store", store});
  if (r.exit_code != 0) {
    return r.describe();
  }
  const Json j = r.json();
  for (const char* key : {"corrupt", "stray", "errors", "quarantined"}) {
    if (counter(j, key) != 0) {
      return r.describe();
    }
  }
  return {};
}

using Commands = std::vector<std::vector<std::string>>;

// A kind of crash trial: how to bring a fresh tree into the state before the
// command, the command to kill, and the run that finishes the work (the next
// run of the same kind, then a scan, which cleans every temporary name).
struct CrashKind
{
  std::string name;
  std::function<void()> prepare;
  std::function<std::vector<std::string>()> command;
  std::function<Commands()> recover;
  // Extra check right after the kill (gc: no guest lost its object).
  std::function<std::string()> after_kill;
};

class CrashTest : public PerLinkMode
{
protected:
  void
  SetUp() override
  {
    PerLinkMode::SetUp();
    if (!is_root()) {
      GTEST_SKIP() << "needs root: guests with other owners, privileged xattrs and a loop-mounted ext4";
    }
    // An ext4 in RAM: immutable flags and syncfs like on a real host, and
    // fast enough for hundreds of trials.
    if (const std::string why = mount_fs("ext4", path("fs"), 768); !why.empty()) {
      GTEST_SKIP() << why;
    }
    top = path("fs");
    roots = {top + "/g1", top + "/g2", top + "/g3"};
    st = top + "/store";
    policy = top + "/policy.yaml";
  }

  void
  wipe()
  {
    clear_protection(top);
    for (const auto& e : fs::directory_iterator(top)) {
      if (e.path().filename() != "lost+found") {
        fs::remove_all(e.path());
      }
    }
  }

  std::vector<std::string>
  scan_args(const std::vector<std::string>& which) const
  {
    std::vector<std::string> a = {PKGUNIFY_BINARY, "scan", "--json", "--store", st, "--link", mode()};
    a.insert(a.end(), which.begin(), which.end());
    return a;
  }

  [[nodiscard]] std::string
  mode() const
  {
    return GetParam();
  }

  // Compares every guest with its snapshot (guest_problems); reports each
  // difference as a test failure. True when a guest lost or changed a path.
  bool
  guests_differ(const std::map<std::string, Snapshot>& before, bool temps_allowed, const std::string& context) const
  {
    bool differ = false;
    const auto now = snapshots();
    for (const auto& [r, snap] : before) {
      const auto problems = guest_problems(snap, now.at(r), temps_allowed);
      if (!problems.empty()) {
        differ = true;
        ADD_FAILURE() << context << r << " lost or changed paths:\n" << join_lines(problems);
      }
    }
    return differ;
  }

  std::map<std::string, Snapshot>
  snapshots() const
  {
    std::map<std::string, Snapshot> out;
    for (const auto& r : roots) {
      if (fs::exists(r)) {
        out[r] = snapshot(r);
      }
    }
    return out;
  }

  // Every guest file that links to an object, by path: its inode.
  std::map<std::string, ino_t>
  linked_files() const
  {
    std::set<ino_t> objects;
    for (const auto& o : store_objects(st)) {
      objects.insert(o.ino);
    }
    std::map<std::string, ino_t> out;
    for (const auto& r : roots) {
      if (!fs::exists(r)) {
        continue;
      }
      for (const auto& e : fs::recursive_directory_iterator(r)) {
        struct stat s;
        if (::lstat(e.path().c_str(), &s) == 0 && S_ISREG(s.st_mode) && objects.contains(s.st_ino)) {
          out[e.path().string()] = s.st_ino;
        }
      }
    }
    return out;
  }

  void
  write_dpkg_db(const std::string& root, const GuestTree& guest_tree)
  {
    // Two packages owning the shared files, the way dpkg records them.
    std::string status;
    std::map<std::string, std::set<std::string>> lists;
    for (std::size_t i = 0; i < guest_tree.files.size(); ++i) {
      const std::string pkg = i % 2 ? "pkg-a" : "pkg-b";
      std::string dir;
      for (const auto& part : fs::path("/" + guest_tree.files[i]).parent_path()) {
        dir = dir == "/" || dir.empty() ? (part == "/" ? "/" : "/" + part.string()) : dir + "/" + part.string();
        lists[pkg].insert(dir);
      }
      lists[pkg].insert("/" + guest_tree.files[i]);
    }
    for (const auto& [pkg, files] : lists) {
      status += "Package: " + pkg + "\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0\n\n";
      std::string list;
      for (const auto& f : files) {
        if (f.find('\n') == std::string::npos) {  // dpkg cannot record such names
          list += (f == "/" ? "/." : f) + "\n";
        }
      }
      write_text(root + "/var/lib/dpkg/info/" + pkg + ".list", list);
    }
    write_text(root + "/var/lib/dpkg/status", status);
  }

  CrashKind
  kind(const std::string& name)
  {
    const auto all = [this] { return scan_args(roots); };
    if (name == "scan") {
      return {name, [] {}, all, [all] { return Commands{all()}; }, {}};
    }
    if (name == "split" || name == "release") {
      return {name,
              [this] { ASSERT_EQ(run_command(scan_args(roots)).exit_code, 0); },
              [this, name] {
                std::vector<std::string> a = {PKGUNIFY_BINARY, name, "--json"};
                for (const auto& [p, ino] : linked_files()) {
                  if (p.starts_with(roots[0]) || p.starts_with(roots[1])) {
                    a.push_back(p);
                  }
                }
                return a;
              },
              [all] { return Commands{all()}; },
              {}};
    }
    if (name == "gc") {
      return {
        name,
        [this] {
          ASSERT_EQ(run_command(scan_args(roots)).exit_code, 0);
          // g3 goes away: the objects only it used are garbage now.
          clear_protection(roots[2]);
          fs::remove_all(roots[2]);
          gc_linked = linked_files();
        },
        [this] { return std::vector<std::string>{PKGUNIFY_BINARY, "store", "gc", "--json", "--store", st}; },
        [this] {
          return Commands{{PKGUNIFY_BINARY, "store", "gc", "--json", "--store", st}, scan_args({roots[0], roots[1]})};
        },
        [this] {
          // gc never removes an object a guest links to.
          std::string out;
          const auto now = linked_files();
          for (const auto& [p, ino] : gc_linked) {
            const auto it = now.find(p);
            if (it == now.end() || it->second != ino) {
              out += p + ": no longer linked to its object after gc was killed\n";
            }
          }
          return out;
        }};
    }
    // hook: `pkgunify sync --hook` after a dpkg run in g1.
    const auto sync = [this] {
      return std::vector<std::string>{PKGUNIFY_BINARY,     "sync",     "--hook", "--root", roots[0], "--state-dir",
                                      top + "/sync-state", "--policy", policy};
    };
    return {name,
            [this] {
              write_text(policy, "store: " + st + "\nlink: " + mode() + "\n");
              write_dpkg_db(roots[0], tree);
            },
            sync,
            [sync, all] {
              return Commands{sync(), all()};
            },
            {}};
  }

  void
  run_trials(const std::string& name, int fast)
  {
    auto rng = make_rng("crash-" + name + "-" + mode());
    CrashKind k = kind(name);
    Tally tally;
    tally.kind = "crash-" + name + "-" + mode();
    const int n = trials(fast);
    std::chrono::microseconds full{0};
    std::size_t full_progress = 0;
    // Trials -2 to 0 run to the end and measure how long the command takes
    // (the shortest of three); the others are killed after a random delay
    // within that time.
    constexpr int k_calibration = 3;
    for (int t = 1 - k_calibration; t <= n; ++t) {
      SCOPED_TRACE(name + " trial " + std::to_string(t));
      wipe();
      // gc gets many objects to remove, the hook many files to unify, so
      // that a kill lands in their work more often than in their start.
      tree = write_guests(roots, rng, name == "hook" ? 120 : 40, name == "gc" ? 120 : 10);
      k.prepare();
      if (HasFatalFailure()) {
        return;
      }
      const auto before = snapshots();
      const std::size_t objects_before = store_objects(st).size();
      // How much of its work a run did: guest files given another inode,
      // objects created or removed.
      const auto progress = [&] {
        std::size_t changed = 0;
        for (const auto& [r, snap] : snapshots()) {
          for (const auto& [rel, e] : snap) {
            const auto it = before.at(r).find(rel);
            changed += e.type == 'f' && it != before.at(r).end() && it->second.ino != e.ino ? 1 : 0;
          }
        }
        const std::size_t objects = store_objects(st).size();
        return changed + (objects > objects_before ? objects - objects_before : objects_before - objects);
      };
      const auto args = k.command();
      const std::string log = top + "/../" + name + ".log";
      std::chrono::microseconds delay;
      if (t <= 0) {
        const auto start = std::chrono::steady_clock::now();
        const RunResult r = run_command(args, 300);
        const auto took =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
        ASSERT_EQ(r.exit_code, 0) << r.describe();
        full = t == 1 - k_calibration ? took : std::min(full, took);
        full_progress = progress();
        if (t == 0) {
          RecordProperty(name + "_full_run_us", static_cast<int>(full.count()));
          std::cout << "reliability: " << tally.kind << " uninterrupted run takes " << full.count() << " us\n";
        }
        continue;
      }
      // Half of the kills anywhere in the run, half in its second half
      // (the first is mostly the process starting and reading its input).
      delay =
        std::chrono::microseconds(std::uniform_int_distribution<long>(t % 2 ? full.count() / 2 : 0, full.count())(rng));
      ++tally.trials;
      if (run_and_kill(args, delay, log)) {
        ++tally.killed;
        const std::size_t done = progress();
        if ((done > 0 && done < full_progress) || !find_temp_names(top).empty()) {
          ++tally.mid_work;
        }
      } else {
        ++tally.finished;
      }
      const std::string when = "killed after " + std::to_string(delay.count()) + " us";
      // Right after the kill: every guest path with its content and metadata.
      bool lost = guests_differ(before, true, when + ": ");
      bool failed = false;
      if (k.after_kill) {
        if (const std::string p = k.after_kill(); !p.empty()) {
          lost = true;
          ADD_FAILURE() << when << ":\n" << p;
        }
      }
      // The next runs finish the work and clean every temporary name.
      for (const auto& cmd : k.recover()) {
        const RunResult r = run_command(cmd, 300);
        if (r.exit_code != 0) {
          failed = true;
          ADD_FAILURE() << when << ": recovery run failed: " << r.describe();
        }
      }
      lost = guests_differ(before, false, when + ", after the next run: ") || lost;
      if (const auto temps = find_temp_names(top); !temps.empty()) {
        failed = true;
        ADD_FAILURE() << when << ": temporaries left after the next run:\n" << join_lines(temps);
      }
      if (const std::string p = fsck_problems(st); !p.empty()) {
        failed = true;
        ADD_FAILURE() << when << ": store fsck is not clean:\n" << p;
      }
      tally.lost += lost ? 1 : 0;
      tally.failed += failed && !lost ? 1 : 0;
    }
    tally.print();
  }

  std::string top;
  std::vector<std::string> roots;
  std::string st;
  std::string policy;
  GuestTree tree;
  std::map<std::string, ino_t> gc_linked;
};

INSTANTIATE_TEST_SUITE_P(LinkModes, CrashTest, ::testing::Values("immutable", "hardlink"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

// The fast run: 6 trials of each kind and mode (60 in all); the long suite
// sets PKGUNIFY_RELIABILITY_TRIALS.
constexpr int k_fast_trials = 6;

TEST_P(CrashTest, KilledScanLosesNothing)
{
  run_trials("scan", k_fast_trials);
}

TEST_P(CrashTest, KilledSplitLosesNothing)
{
  run_trials("split", k_fast_trials);
}

TEST_P(CrashTest, KilledReleaseLosesNothing)
{
  run_trials("release", k_fast_trials);
}

TEST_P(CrashTest, KilledGcLosesNothing)
{
  run_trials("gc", k_fast_trials);
}

TEST_P(CrashTest, KilledHookSyncLosesNothing)
{
  run_trials("hook", k_fast_trials);
}

// ---- Concurrency --------------------------------------------------------------

// Scans of overlapping roots, a dpkg hook run and gc, all at once and
// repeatedly: nobody waits forever (each process has a watchdog), no file is
// lost, no identity gets two objects, fsck stays clean.
TEST_P(CrashTest, ConcurrentScansHookRunsAndGcLoseNothing)
{
  auto rng = make_rng("concurrency-" + mode());
  roots.push_back(top + "/g4");
  const int rounds = trials(3);
  constexpr int k_watchdog_s = 120;
  Tally tally;
  tally.kind = "concurrency-" + mode();
  for (int round = 0; round < rounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    wipe();
    tree = write_guests(roots, rng, 30, 5);
    write_text(policy, "store: " + st + "\nlink: " + mode() + "\n");
    write_dpkg_db(roots[3], tree);
    // Garbage for gc: objects of a guest that is gone.
    const std::string old = top + "/old";
    write_guests({old}, rng, 20, 0);
    ASSERT_EQ(run_command(scan_args({old})).exit_code, 0);
    clear_protection(old);
    fs::remove_all(old);
    const auto before = snapshots();

    const std::vector<std::vector<std::string>> commands = {
      scan_args({roots[0], roots[1]}),
      scan_args({roots[1], roots[2], roots[3]}),
      scan_args({roots[2], roots[0]}),
      {PKGUNIFY_BINARY, "sync", "--root", roots[3], "--state-dir", top + "/sync-state", "--policy", policy},
      {PKGUNIFY_BINARY, "store", "gc", "--json", "--store", st},
      {PKGUNIFY_BINARY, "store", "gc", "--json", "--store", st},
    };
    std::vector<RunResult> results(commands.size());
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < commands.size(); ++i) {
      threads.emplace_back([&, i] {
        std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(rng)));
        results[i] = run_command(commands[i], k_watchdog_s);
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    ++tally.trials;
    bool failed = false;
    for (const auto& r : results) {
      if (r.timed_out) {
        failed = true;
        ADD_FAILURE() << "no end after " << k_watchdog_s << " s (deadlock?): " << r.describe();
      } else if (r.exit_code != 0) {
        failed = true;
        ADD_FAILURE() << r.describe();
      }
    }
    const bool lost = guests_differ(before, false, "");
    // One object per identity: no successors (no file reached the link
    // limit), and every linked copy of a shared file is the same inode.
    std::map<ino_t, std::string> objects;
    for (const auto& o : store_objects(st)) {
      objects[o.ino] = o.name;
      if (o.name.find('.') != std::string::npos) {
        failed = true;
        ADD_FAILURE() << "second object for one identity: " << o.name;
      }
    }
    for (const auto& rel : tree.files) {
      std::set<ino_t> linked;
      for (const auto& r : roots) {
        const FileStat s = stat_path(r + "/" + rel);
        if (objects.contains(s.ino)) {
          linked.insert(s.ino);
        }
      }
      if (linked.size() > 1) {
        failed = true;
        ADD_FAILURE() << rel << " is linked to " << linked.size() << " different objects";
      }
    }
    if (const std::string p = fsck_problems(st); !p.empty()) {
      failed = true;
      ADD_FAILURE() << "store fsck is not clean:\n" << p;
    }
    if (const auto temps = find_temp_names(top); !temps.empty()) {
      failed = true;
      ADD_FAILURE() << "temporaries left:\n" << join_lines(temps);
    }
    // A final scan links every shared file to one object.
    ASSERT_EQ(run_command(scan_args(roots)).exit_code, 0);
    for (const auto& rel : tree.files) {
      std::set<ino_t> inodes;
      for (const auto& r : roots) {
        inodes.insert(stat_path(r + "/" + rel).ino);
      }
      if (inodes.size() != 1) {
        failed = true;
        ADD_FAILURE() << rel << " is not one inode after a final scan";
      }
    }
    tally.lost += lost ? 1 : 0;
    tally.failed += failed && !lost ? 1 : 0;
  }
  tally.print();
}

// A temporary name that another running pkgunify has just made is not a
// leftover: a scan cleans leftovers only while no other run holds the
// store's run lock (found by the test above: a concurrent scan removed the
// temporary of another one between its link and its exchange).
class RunLockTest : public IntegrationTest
{};

TEST_F(RunLockTest, TemporariesOfAnotherRunningProcessAreLeftAlone)
{
  const auto roots = make_roots(2);
  const FileSpec spec = sized_spec(900, "name");
  write_in_roots(roots, "usr/bin/NAME", spec);
  scan_ok({roots[1]});  // the store exists
  const std::string dir = roots[0] + "/usr/bin";
  const std::string temp = dir + "/.#pku.01234567.NAME";
  ASSERT_EQ(::link((dir + "/NAME").c_str(), temp.c_str()), 0);
  {
    // Another run is working: it holds the store directory's lock shared.
    const int fd = ::open(store().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_SH), 0);
    const Json j = scan_ok(roots);
    EXPECT_EQ(counter(j, "leftovers_cleaned"), 0);
    EXPECT_TRUE(exists(temp));
    EXPECT_EQ(stat_path(dir + "/NAME").ino, stat_path(roots[1] + "/usr/bin/NAME").ino);
    ::close(fd);
  }
  // Alone again: the next scan cleans it.
  const Json j = scan_ok(roots);
  EXPECT_EQ(counter(j, "leftovers_cleaned"), 1);
  EXPECT_FALSE(exists(temp));
  EXPECT_EQ(read_file(dir + "/NAME"), spec.content);
}

// ---- Full filesystem ------------------------------------------------------------

// A scan that runs out of space fails cleanly: exit status 1 naming the
// error, every guest file intact, no temporaries, fsck clean; once there is
// space again the next scan unifies everything.
TEST_P(CrashTest, FullFilesystemFailsCleanlyAndTheNextScanSucceeds)
{
  const std::string small = path("small");
  if (const std::string why = mount_fs("ext4", small, 64); !why.empty()) {
    GTEST_SKIP() << why;
  }
  roots = {small + "/g1", small + "/g2"};
  st = small + "/store";
  std::vector<std::string> files;
  for (int i = 0; i < 6; ++i) {
    const std::string rel = "usr/lib/big" + std::to_string(i);
    for (const auto& r : roots) {
      write_file(r + "/" + rel, sized_spec(1536 * 1024, "big" + std::to_string(i)));
    }
    files.push_back(rel);
    for (const auto& r : roots) {
      write_file(r + "/usr/share/small" + std::to_string(i), sized_spec(4000 + i, "small" + std::to_string(i)));
    }
  }
  // The store exists (its 256 fan-out directories take 1 MiB themselves).
  make_dirs(small + "/empty");
  ASSERT_EQ(run_command(scan_args({small + "/empty"})).exit_code, 0);
  // Fill the filesystem, then free 1 MiB: room for the small objects, not
  // for the big ones.
  const std::string filler = small + "/filler";
  {
    const int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    const std::string chunk(1 << 16, 'f');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    ASSERT_EQ(errno, ENOSPC);
    ::fsync(fd);
    ::close(fd);
  }
  const off_t full_size = stat_path(filler).size;
  ASSERT_EQ(::truncate(filler.c_str(), full_size - (1 << 20)), 0);
  const auto before = snapshots();

  const RunResult r = run_command(scan_args(roots));
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.describe();
  guests_differ(before, false, "after the scan that ran out of space: ");
  EXPECT_TRUE(find_temp_names(small).empty());
  EXPECT_TRUE(list_dir(st + "/tmp").empty());
  EXPECT_EQ(fsck_problems(st), "");

  ASSERT_EQ(::unlink(filler.c_str()), 0);
  const RunResult again = run_command(scan_args(roots));
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  for (const auto& rel : files) {
    EXPECT_EQ(stat_path(roots[0] + "/" + rel).ino, stat_path(roots[1] + "/" + rel).ino) << rel;
  }
  guests_differ(before, false, "after the next scan: ");
  EXPECT_EQ(fsck_problems(st), "");
}

}  // namespace
}  // namespace pkgunify::itest
