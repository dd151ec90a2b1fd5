// SPDX-License-Identifier: GPL-2.0-or-later
// The rpm transaction plugin in real rpm transactions: packages built with
// rpmbuild, installed, upgraded and erased with `rpm --root GUEST`, the
// plugin loaded from a plugin directory of the test's own
// (--define __plugindir), configured by a policy file in its options.
#include "engine/hooks.hpp"
#include "harness.hpp"
#include "pkgbuild.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace pkgunify::itest {

namespace {

PkgSpec
package(const std::string& version)
{
  PkgSpec p;
  p.name = "pkgu-app";
  p.version = version;
  p.files = {
    {"/usr/bin/pkgu-app", std::string(40000, 'a') + version, 0755, false},
    {"/usr/lib/pkgu-app/libapp.so", std::string(60000, 'l') + version, 0644, false},
    {"/usr/share/pkgu-app/same.txt", std::string(3000, 's'), 0644, false},  // equal in both versions
    {"/etc/pkgu-app.conf", "config = " + version + "\n", 0644, true},
    {"/usr/lib/pkgu-app/app.conf", "config outside etc = " + version + "\n", 0644, true},
  };
  if (version == "1.0") {
    p.files.push_back({"/usr/share/pkgu-app/old-only.txt", std::string(2000, 'o'), 0644, false});
  }
  return p;
}

class RpmPluginTest : public IntegrationTest
{
protected:
  // Empty when the test can run, else why not.
  std::string
  setup(const std::string& mode, const std::string& fs)
  {
    if (!is_root()) {
      return "rpm transactions into guest roots need root";
    }
#ifdef PKGUNIFY_SANITIZED
    return "sanitizer build: the instrumented plugin cannot be loaded into the uninstrumented /usr/bin/rpm";
#endif
    if (auto why = missing_tool({"rpm", "rpmbuild"}); !why.empty()) {
      return why;
    }
    if (auto why = guest_top(fs, m_top); !why.empty()) {
      return why;
    }
    m_plugindir = path("plugins");
    make_dirs(m_plugindir);
    if (::symlink(PKGUNIFY_RPM_PLUGIN, (m_plugindir + "/pkgunify.so").c_str()) != 0) {
      return "cannot link the plugin into " + m_plugindir;
    }
    m_store = m_top + "/store";
    write_text(policy(), "store: " + m_store + "\nlink: " + mode + "\n");
    m_v1 = build_rpm(package("1.0"), tmp());
    m_v2 = build_rpm(package("2.0"), tmp());
    return {};
  }

  [[nodiscard]] std::string
  policy() const
  {
    return path("policy.yaml");
  }

  std::string
  guest(const std::string& name)
  {
    const std::string g = m_top + "/" + name;
    rpm_init_root(g);
    return g;
  }

  // Guests g1 and g2 with version 1.0 installed (and unified) through the
  // plugin, which said nothing.
  void
  two_guests_with_v1(std::string& g1, std::string& g2)
  {
    g1 = guest("g1");
    g2 = guest("g2");
    for (const auto& g : {g1, g2}) {
      const ShellResult r = rpm_plugged(g, "-i --nodeps " + m_v1);
      ASSERT_EQ(r.status, 0) << r.output;
      EXPECT_EQ(r.output.find("pkgunify:"), std::string::npos) << r.output;
    }
  }

  // rpm with the plugin directory of the test and its options: the policy,
  // the worker's log, `extra` words ("sync"). Then waits for the background
  // worker, as the next transaction on the root would.
  ShellResult
  rpm_plugged(const std::string& root, const std::string& args, const std::string& policy_file = {},
              const std::string& extra = {})
  {
    const ShellResult r =
      rpm_in_with_hooks(root, plugin_macros(policy_file.empty() ? policy() : policy_file,
                                            "log=" + worker_log() + (extra.empty() ? "" : " " + extra))
                                + " " + args);
    const RunResult w = run_pkgunify({"wait", "--root", root});
    EXPECT_EQ(w.exit_code, 0) << w.describe();
    return r;
  }

  [[nodiscard]] std::string
  worker_log() const
  {
    return path("worker.log");
  }

  // rpm's options that load the test's plugin, running the pkgunify of the
  // build tree, with the policy `policy_file` and further `options`.
  [[nodiscard]] std::string
  plugin_macros(const std::string& policy_file, const std::string& options) const
  {
    return "--define '__plugindir " + m_plugindir + "' --define '__transaction_pkgunify " + m_plugindir
           + "/pkgunify.so " + policy_file + " program=" + PKGUNIFY_BINARY + " " + options + "'";
  }

  std::string m_top;
  std::string m_plugindir;
  std::string m_store;
  std::string m_v1;
  std::string m_v2;
};

class RpmPluginModes
  : public RpmPluginTest
  , public ::testing::WithParamInterface<ModeParam>
{};

}  // namespace

TEST_P(RpmPluginModes, InstallUpgradeEraseInTwoGuests)
{
  const auto& [mode, fs] = GetParam();
  if (auto why = setup(mode, fs); !why.empty()) {
    GTEST_SKIP() << why;
  }
  std::string g1;
  std::string g2;
  ASSERT_NO_FATAL_FAILURE(two_guests_with_v1(g1, g2));
  auto shared = [&](const std::string& rel) {
    if (mode == "reflink") {
      return stat_path(g1 + rel).ino != stat_path(g2 + rel).ino && read_file(g1 + rel) == read_file(g2 + rel);
    }
    return stat_path(g1 + rel).ino == stat_path(g2 + rel).ino
           && object_with_inode(m_store, stat_path(g1 + rel).ino).has_value();
  };
  for (const char* rel : {"/usr/bin/pkgu-app", "/usr/lib/pkgu-app/libapp.so", "/usr/share/pkgu-app/same.txt"}) {
    EXPECT_TRUE(shared(rel)) << rel;
    EXPECT_EQ(has_immutable_flag(g1 + rel), mode == "immutable") << rel;
  }
  if (mode == "reflink") {
    const RunResult st = run_pkgunify({"status", "--json", "--store", m_store, g1});
    ASSERT_EQ(st.exit_code, 0) << st.describe();
    // btrfs keeps files up to 2 KiB inline in metadata, where extents cannot
    // be shared: old-only.txt (2000 bytes) stays unshared there.
    EXPECT_EQ(st.json()["roots"][0]["modes"]["reflink"], fs == "btrfs" ? 3 : 4);
  }
  for (const char* rel : {"/etc/pkgu-app.conf", "/usr/lib/pkgu-app/app.conf"}) {
    EXPECT_NE(stat_path(g1 + rel).ino, stat_path(g2 + rel).ino) << rel;
    EXPECT_EQ(stat_path(g1 + rel).nlink, 1u) << rel;
  }
  for (const auto& g : {g1, g2}) {
    const ShellResult v = rpm_in(g, "-V pkgu-app");
    EXPECT_EQ(v.status, 0) << v.output;
  }

  // Upgrade: rpm replaces every file, also the protected ones.
  for (const auto& g : {g1, g2}) {
    const ShellResult r = rpm_plugged(g, "-U --nodeps " + m_v2);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(rpm_in(g, "-q pkgu-app").output, "pkgu-app-2.0-1.noarch\n");
    EXPECT_FALSE(exists(g + "/usr/share/pkgu-app/old-only.txt"));
  }
  EXPECT_EQ(read_file(g1 + "/usr/bin/pkgu-app"), std::string(40000, 'a') + "2.0");
  for (const char* rel : {"/usr/bin/pkgu-app", "/usr/lib/pkgu-app/libapp.so", "/usr/share/pkgu-app/same.txt"}) {
    EXPECT_TRUE(shared(rel)) << "after upgrade: " << rel;
  }
  for (const auto& g : {g1, g2}) {
    const ShellResult v = rpm_in(g, "-V pkgu-app");
    EXPECT_EQ(v.status, 0) << v.output;
  }

  // Erase from one guest; the other keeps its files.
  const ShellResult e = rpm_plugged(g1, "-e pkgu-app");
  ASSERT_EQ(e.status, 0) << e.output;
  EXPECT_FALSE(exists(g1 + "/usr/bin/pkgu-app"));
  EXPECT_EQ(read_file(g2 + "/usr/bin/pkgu-app"), std::string(40000, 'a') + "2.0");
  EXPECT_EQ(rpm_in(g2, "-V pkgu-app").status, 0);
}

INSTANTIATE_TEST_SUITE_P(LinkModes, RpmPluginModes,
                         ::testing::Values(ModeParam{"immutable", ""}, ModeParam{"hardlink", ""},
                                           ModeParam{"immutable", "ext4"}, ModeParam{"reflink", "btrfs"},
                                           ModeParam{"reflink", "xfs"}),
                         mode_name);

// A guest's root can make its /proc a tree of its own: here every fd/N is a
// symlink to a FIFO. `rpm --root` runs the plugin's file hooks chrooted into
// the guest, where they release the unified files rpm replaces: they must
// neither block on the FIFO nor open anything through that tree.
TEST_F(RpmPluginTest, AGuestsForgedProcNeitherStallsNorMisleadsAnUpgrade)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  std::string g1;
  std::string g2;
  ASSERT_NO_FATAL_FAILURE(two_guests_with_v1(g1, g2));
  ASSERT_TRUE(has_immutable_flag(g1 + "/usr/bin/pkgu-app"));
  ASSERT_EQ(stat_path(g1 + "/usr/bin/pkgu-app").ino, stat_path(g2 + "/usr/bin/pkgu-app").ino);
  make_dirs(g1 + "/proc/self/fd");
  ASSERT_EQ(::mkfifo((g1 + "/fifo").c_str(), 0600), 0);
  for (int n = 0; n < 1024; ++n) {
    ASSERT_EQ(::symlink("/fifo", (g1 + "/proc/self/fd/" + std::to_string(n)).c_str()), 0);
  }
  const ShellResult r = shell("timeout 300 env -u PKGUNIFY_HOOKS rpm --root " + g1 + " "
                              + plugin_macros(policy(), "log=" + worker_log()) + " -U --nodeps " + m_v2);
  ASSERT_EQ(r.status, 0) << "(124: rpm was stopped after 300 s, blocked on the guest's FIFO)\n" << r.output;
  const RunResult w = run_pkgunify({"wait", "--root", g1});
  EXPECT_EQ(w.exit_code, 0) << w.describe();
  EXPECT_EQ(rpm_in(g1, "-q pkgu-app").output, "pkgu-app-2.0-1.noarch\n");
  EXPECT_EQ(read_file(g1 + "/usr/bin/pkgu-app"), std::string(40000, 'a') + "2.0");
  EXPECT_EQ(rpm_in(g1, "-V pkgu-app").status, 0);
  // The other guest keeps its version, still protected.
  EXPECT_EQ(read_file(g2 + "/usr/bin/pkgu-app"), std::string(40000, 'a') + "1.0");
  EXPECT_TRUE(has_immutable_flag(g2 + "/usr/bin/pkgu-app"));
  EXPECT_EQ(rpm_in(g2, "-V pkgu-app").status, 0);
}

TEST_F(RpmPluginTest, TestTransactionsAndNoPluginsChangeNothing)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g1 = guest("g1");
  ASSERT_EQ(rpm_plugged(g1, "-i --nodeps --test " + m_v1).status, 0);
  EXPECT_FALSE(exists(g1 + "/usr/bin/pkgu-app"));
  EXPECT_FALSE(exists(m_store));

  const std::string g2 = guest("g2");
  for (const auto& g : {g1, g2}) {
    const ShellResult r = rpm_plugged(g, "-i --nodeps --noplugins " + m_v1);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  EXPECT_FALSE(exists(m_store));
  EXPECT_EQ(stat_path(g1 + "/usr/bin/pkgu-app").nlink, 1u);
  EXPECT_NE(stat_path(g1 + "/usr/bin/pkgu-app").ino, stat_path(g2 + "/usr/bin/pkgu-app").ino);

  // Disabling just this plugin with its macro works too.
  const std::string g3 = guest("g3");
  const ShellResult r = rpm_in_with_hooks(g3, "--define '__plugindir " + m_plugindir
                                                + "' --define '__transaction_pkgunify %{nil}' "
                                                  "-i --nodeps "
                                                + m_v1);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(exists(m_store));
}

// PKGUNIFY_HOOKS=off (what the harness sets for every other test's rpm
// runs) keeps the plugin out of a transaction, as if it were not installed:
// nothing unified, nothing released, not a word from it. Other values leave
// it on.
TEST_F(RpmPluginTest, HooksOffInTheEnvironmentKeepThePluginOut)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string macros = plugin_macros(policy(), "sync log=" + worker_log());
  auto rpm_env = [&](const std::string& value, const std::string& g, const std::string& args) {
    return shell("PKGUNIFY_HOOKS=" + value + " rpm --root " + quote(g) + " " + macros + " " + args);
  };
  const std::string g1 = guest("g1");
  const std::string g2 = guest("g2");
  for (const auto& g : {g1, g2}) {
    const ShellResult r = rpm_env("off", g, "-i --nodeps " + m_v1);
    ASSERT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(r.output.find("pkgunify"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(exists(m_store));
  EXPECT_FALSE(exists(worker_log()));
  EXPECT_EQ(stat_path(g1 + "/usr/bin/pkgu-app").nlink, 1u);
  EXPECT_NE(stat_path(g1 + "/usr/bin/pkgu-app").ino, stat_path(g2 + "/usr/bin/pkgu-app").ino);

  // Any other value: on. g3 and g4 share their files, protected.
  const std::string g3 = guest("g3");
  const std::string g4 = guest("g4");
  for (const auto& g : {g3, g4}) {
    const ShellResult r = rpm_env(g == g3 ? "on" : "", g, "-i --nodeps " + m_v1);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  ASSERT_EQ(stat_path(g3 + "/usr/bin/pkgu-app").ino, stat_path(g4 + "/usr/bin/pkgu-app").ino);
  ASSERT_TRUE(has_immutable_flag(g3 + "/usr/bin/pkgu-app"));

  // Off, the plugin releases nothing either: rpm cannot replace the
  // protected file, as without pkgunify, and the shared file stays intact.
  const ShellResult up = rpm_env("off", g3, "-U --nodeps " + m_v2);
  EXPECT_NE(up.status, 0) << up.output;
  EXPECT_EQ(up.output.find("pkgunify"), std::string::npos) << up.output;
  EXPECT_EQ(read_file(g3 + "/usr/bin/pkgu-app"), std::string(40000, 'a') + "1.0");
  EXPECT_EQ(stat_path(g3 + "/usr/bin/pkgu-app").ino, stat_path(g4 + "/usr/bin/pkgu-app").ino);
  EXPECT_TRUE(has_immutable_flag(g4 + "/usr/bin/pkgu-app"));
  EXPECT_EQ(rpm_in(g4, "-V pkgu-app").status, 0);
}

TEST_F(RpmPluginTest, APluginProblemNeverFailsTheTransaction)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string bad = path("bad.yaml");
  write_text(bad, "min_size: [\n");
  // Unifying inside the transaction ("sync"): reported through rpm's log.
  const std::string g1 = guest("g1");
  const ShellResult r = rpm_plugged(g1, "-i --nodeps " + m_v1, bad, "sync");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("pkgunify: error: " + bad + ":"), std::string::npos) << r.output;
  EXPECT_EQ(rpm_in(g1, "-V pkgu-app").status, 0);

  // With the background worker (the default) the configuration is checked
  // before it starts: reported through rpm's log all the same.
  const std::string g3 = guest("g3");
  const ShellResult rb = rpm_plugged(g3, "-i --nodeps " + m_v1, bad);
  EXPECT_EQ(rb.status, 0) << rb.output;
  EXPECT_NE(rb.output.find("pkgunify: error: " + bad + ":"), std::string::npos) << rb.output;
  EXPECT_EQ(stat_path(g3 + "/usr/bin/pkgu-app").nlink, 1u);

  // A mode this kernel lacks is reported the same way.
  const std::string iunlink = path("iunlink.yaml");
  write_text(iunlink, "store: " + m_store + "\nlink: iunlink\n");
  const std::string g2 = guest("g2");
  const ShellResult r2 = rpm_plugged(g2, "-i --nodeps " + m_v1, iunlink);
  EXPECT_EQ(r2.status, 0) << r2.output;
  EXPECT_NE(r2.output.find("Linux-VServer"), std::string::npos) << r2.output;
  EXPECT_EQ(stat_path(g2 + "/usr/bin/pkgu-app").nlink, 1u);
}

// A transaction on a root waits for the worker still unifying it, so that
// no worker protects a file while rpm replaces it.
TEST_F(RpmPluginTest, NextTransactionWaitsForTheWorker)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g1 = guest("g1");
  ::mkdir("/run/pkgunify", 0700);
  const int fd = ::open(pkgunify::hook_lock_path(g1).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // as if a worker were busy
  std::thread release([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    ::flock(fd, LOCK_UN);
    ::close(fd);
  });
  const auto start = std::chrono::steady_clock::now();
  const ShellResult r = rpm_plugged(g1, "-i --nodeps " + m_v1);
  const auto waited = std::chrono::steady_clock::now() - start;
  release.join();
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_GE(waited, std::chrono::milliseconds(1400));
  EXPECT_TRUE(object_with_inode(m_store, stat_path(g1 + "/usr/bin/pkgu-app").ino).has_value());
}

TEST_F(RpmPluginTest, SynchronousOptionUnifiesInsideTheTransaction)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string g1 = guest("g1");
  const std::string g2 = guest("g2");
  for (const auto& g : {g1, g2}) {
    const ShellResult r = rpm_in_with_hooks(g, plugin_macros(policy(), "sync") + " -i --nodeps " + m_v1);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  // No wait: with "sync" the files are unified when rpm returns.
  EXPECT_EQ(stat_path(g1 + "/usr/bin/pkgu-app").ino, stat_path(g2 + "/usr/bin/pkgu-app").ino);
  EXPECT_FALSE(exists(worker_log()));
}

// The policy check before the worker starts is remembered (in /run) only
// while the policy stays as it was: an edit that breaks it is reported by
// the next transaction.
TEST_F(RpmPluginTest, AnEditedPolicyIsCheckedAgain)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  const std::string edited = path("edited.yaml");
  write_text(edited, "store: " + m_store + "\nlink: immutable\n");
  const std::string g1 = guest("g1");
  const ShellResult r1 = rpm_plugged(g1, "-i --nodeps " + m_v1, edited);
  ASSERT_EQ(r1.status, 0) << r1.output;
  EXPECT_EQ(r1.output.find("pkgunify:"), std::string::npos) << r1.output;
  EXPECT_TRUE(object_with_inode(m_store, stat_path(g1 + "/usr/bin/pkgu-app").ino).has_value());

  write_text(edited, "store: " + m_store + "\nlink: sideways\n");
  const std::string g2 = guest("g2");
  const ShellResult r2 = rpm_plugged(g2, "-i --nodeps " + m_v1, edited);
  EXPECT_EQ(r2.status, 0) << r2.output;
  EXPECT_NE(r2.output.find("pkgunify: error: " + edited + ":2:"), std::string::npos) << r2.output;
  EXPECT_EQ(stat_path(g2 + "/usr/bin/pkgu-app").nlink, 1u);
}

// A transaction that installs only config files has nothing to unify: the
// plugin starts no pkgunify at all (here one that cannot run, which would
// be reported).
TEST_F(RpmPluginTest, OnlyConfigFilesStartNoWorker)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  PkgSpec conf;
  conf.name = "pkgu-conf";
  conf.version = "1.0";
  conf.files = {{"/etc/pkgu-Fconf.conf", std::string(5000, 'c'), 0644, true}};
  const std::string rpm = build_rpm(conf, tmp());
  const std::string g1 = guest("g1");
  // The last program= wins.
  const std::string unrunnable = plugin_macros(policy(), "program=" + path("no-such") + " sync");
  const ShellResult r = rpm_in_with_hooks(g1, unrunnable + " -i --nodeps " + rpm);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("pkgunify"), std::string::npos) << r.output;
  EXPECT_FALSE(exists(m_store));
  // The same with a file to unify does try to run it, and says so.
  const std::string g2 = guest("g2");
  const ShellResult r2 = rpm_in_with_hooks(g2, unrunnable + " -i --nodeps " + m_v1);
  EXPECT_EQ(r2.status, 0) << r2.output;
  EXPECT_NE(r2.output.find(path("no-such") + ": cannot be executed"), std::string::npos) << r2.output;
}

// Relative paths in the plugin's options (policy, log, program) are taken
// from the directory rpm was started in, although the worker runs in "/".
TEST_F(RpmPluginTest, RelativeOptionPathsAreTakenFromRpmsDirectory)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  make_dirs(path("bin"));
  ASSERT_EQ(::symlink(PKGUNIFY_BINARY, path("bin/pkgunify").c_str()), 0);
  write_text(path("relative.yaml"), read_file(policy()));
  const std::string g1 = guest("g1");
  // The last program= wins over the build tree's absolute one.
  const ShellResult r =
    shell("cd " + quote(tmp()) + " && env -u PKGUNIFY_HOOKS rpm --root " + quote(g1) + " "
          + plugin_macros("relative.yaml", "program=bin/pkgunify log=worker.log") + " -i --nodeps " + m_v1);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("pkgunify:"), std::string::npos) << r.output;
  const RunResult w = run_pkgunify({"wait", "--root", g1});
  ASSERT_EQ(w.exit_code, 0) << w.describe();
  EXPECT_GT(stat_path(g1 + "/usr/bin/pkgu-app").nlink, 1u);
  EXPECT_TRUE(object_with_inode(m_store, stat_path(g1 + "/usr/bin/pkgu-app").ino));
}

// Problems the background worker meets (here: a store it cannot create) go
// to its log file, never into rpm's result.
TEST_F(RpmPluginTest, TheWorkerLogsWhatGoesWrong)
{
  if (auto why = setup("immutable", ""); !why.empty()) {
    GTEST_SKIP() << why;
  }
  write_text(path("not-a-dir"), "x");
  const std::string blocked = path("blocked.yaml");
  write_text(blocked, "store: " + path("not-a-dir") + "/store\nlink: immutable\n");
  const std::string g1 = guest("g1");
  const ShellResult r = rpm_plugged(g1, "-i --nodeps " + m_v1, blocked);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(stat_path(g1 + "/usr/bin/pkgu-app").nlink, 1u);
  ASSERT_TRUE(exists(worker_log()));
  EXPECT_NE(read_file(worker_log()).find("not-a-dir/store"), std::string::npos) << read_file(worker_log());
}

// What rpm loads for the plugin: librpm and the C/C++ runtime, not the
// libraries of the rest of the core (the worker runs the pkgunify command).
TEST(RpmPluginBinary, LoadsNeitherCryptoNorYamlIntoRpm)
{
  const ShellResult r = shell(std::string("readelf -d ") + PKGUNIFY_RPM_PLUGIN);
  if (r.status == 127) {
    GTEST_SKIP() << "readelf (binutils) is not installed";
  }
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("librpm.so"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libcrypto"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libyaml-cpp"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libapt-pkg"), std::string::npos) << r.output;
}

// `pkgunify unify-files`, the worker's command: NUL-terminated records on
// standard input; a bad record is a usage error that changes nothing.
class UnifyFilesCommand : public IntegrationTest
{};

TEST_F(UnifyFilesCommand, ReadsTheRecordsOfStandardInput)
{
  const std::string g1 = path("g1");
  const std::string g2 = path("g2");
  for (const auto& g : {g1, g2}) {
    write_file(g + "/usr/bin/tool", sized_spec(5000, "tool"));
    write_file(g + "/usr/lib/tool.conf", sized_spec(5000, "conf"));
  }
  const std::string policy = path("policy.yaml");
  write_text(policy, "store: " + store() + "\nlink: hardlink\n");
  auto feed = [&](const std::string& root, const std::string& records) {
    return shell("printf '" + records + "' | " + PKGUNIFY_BINARY + " unify-files --root " + root + " --policy "
                 + policy);
  };
  const ShellResult bad = feed(g1, "F/usr/bin/tool\\0X/usr/lib/tool.conf\\0");
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_NE(bad.output.find("standard input: record 2"), std::string::npos) << bad.output;
  EXPECT_FALSE(exists(store()));
  const ShellResult open_ended = feed(g1, "F/usr/bin/tool");
  EXPECT_EQ(open_ended.status, 2) << open_ended.output;
  EXPECT_NE(open_ended.output.find("not NUL-terminated"), std::string::npos) << open_ended.output;

  for (const auto& g : {g1, g2}) {
    // The config file is listed as a file too: its "C" record wins.
    const ShellResult r = feed(g, "F/usr/bin/tool\\0F/usr/lib/tool.conf\\0C/usr/lib/tool.conf\\0");
    EXPECT_EQ(r.status, 0) << r.output;
  }
  EXPECT_EQ(stat_path(g1 + "/usr/bin/tool").ino, stat_path(g2 + "/usr/bin/tool").ino);
  EXPECT_NE(stat_path(g1 + "/usr/lib/tool.conf").ino, stat_path(g2 + "/usr/lib/tool.conf").ino);
}

}  // namespace pkgunify::itest
