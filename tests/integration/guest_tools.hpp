// SPDX-License-Identifier: GPL-2.0-or-later
// Guests that run their own package managers, for the tests of in-guest
// dpkg, apt, rpm and dnf runs: the host's tools copied into a test-built
// root (install_host_tools), commands run inside a guest through chroot or
// systemd-nspawn without CAP_LINUX_IMMUTABLE (GuestRunner), and local
// package repositories for apt and dnf (make_apt_repo, make_rpm_repo).
//
// The guest roots these helpers work on are built by the tests themselves;
// the checks against symlinked mount points guard against mistakes in a
// test, not against a guest that changes its tree while they run.
#pragma once

#include "pkgbuild.hpp"

#include <gtest/gtest.h>

#include <sys/types.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace pkgunify::itest {

// ---- Host tools in a guest -------------------------------------------------------

// Host packages whose Depends and Pre-Depends the copies leave out, for
// tools the tests never run (rpmbuild's perl, debugedit, rpm2cpio; gnupg's
// translations): the packages stay out with everything only they pull in.
// (librpmbuild and librpmsign stay: python3-rpm, which dnf imports, links
// them.) Names that are not installed change nothing.
extern const std::vector<std::string> k_unused_tool_packages;

// Ready-made sets for install_host_tools(). Essential packages are in no
// package's Depends (Debian policy), so install_host_tools() adds the few
// the tools call: to every set dash and coreutils (/bin/sh and what scripts
// call), to the dpkg sets diffutils and libc-bin (dpkg refuses to run
// without diff and ldconfig in PATH), to the apt set perl-base (apt runs
// debconf's dpkg-preconfigure), to the rpm sets bash (Debian's rpm macros
// find the database with it).
extern const std::vector<std::string> k_dpkg_tools;  // dpkg
extern const std::vector<std::string> k_apt_tools;   // dpkg, apt
extern const std::vector<std::string> k_rpm_tools;   // rpm
extern const std::vector<std::string> k_dnf_tools;   // rpm, dnf (python3, ~200 MB)

// What install_host_tools() copied, and how long it took.
struct HostTools
{
  std::vector<std::string> packages;  // the closure, sorted
  std::size_t entries = 0;            // files, symlinks, directories
  std::uint64_t bytes = 0;            // sizes of the regular files
  double seconds = 0;                 // the whole call
  [[nodiscard]] std::string describe() const;
};

// Makes the named host packages runnable inside `root` without registering
// them in the guest's package database: copies the files (`dpkg-query -L`)
// of the packages and of their dependency closure as installed on the host
// (Depends and Pre-Depends, recursively; of alternatives `a | b` the first
// one installed, by name or as a provided virtual package), keeping modes,
// owners, symlinks and hard links (tar), and leaving out documentation, man
// pages, translations and `exclude` (with what only it pulls in). Paths are
// copied by their real parent directories, so a merged-/usr host gives the
// guest /bin -> usr/bin as well. Adds what the tools need to run: a regular
// /etc/os-release (the host's content; systemd-nspawn and dnf read it), an
// /etc/passwd and /etc/group with root (when missing), /proc, /dev, /sys,
// /run/pkgunify, /tmp and /var/tmp (1777), /root (0700), /var/log; with apt
// also its directories and /etc/apt/apt.conf.d/99pkgunify-test (no sandbox
// user, no translations). The package databases stay the guest's own:
// nothing under /var/lib/dpkg, /var/lib/rpm or /root is copied
// (dpkg_init_root, rpm_init_root make them; Debian's rpm keeps its database
// in ~/.rpmdb, i.e. ROOT/root/.rpmdb).
//
// Call it before installing packages into /bin, /lib or /sbin of the guest
// (they would be real directories where the host has symlinks). Throws
// std::runtime_error when a package is not installed on the host or the
// copy fails. The closures and file lists are computed once per process.
HostTools install_host_tools(const std::string& root, const std::vector<std::string>& packages,
                             const std::vector<std::string>& exclude = k_unused_tool_packages);

// ---- Test packages ---------------------------------------------------------------

// A test package NAME at VERSION: /usr/bin/NAME and /usr/lib/NAME/data.bin
// (their content changes with the version), /usr/share/NAME/same.dat (the
// same in every version) and the config file /etc/NAME.conf.
PkgSpec guest_package(const std::string& name, const std::string& version);

// The version in ROOT/usr/bin/NAME (its first line), "" when missing.
std::string bin_version(const std::string& root, const std::string& name);

// ---- Running commands inside a guest -----------------------------------------------

enum class Runtime {
  // `unshare --mount` (a private mount namespace: /proc, a tmpfs /dev with
  // the usual device nodes and a devpts, and the binds, all gone with the
  // command), `setpriv --bounding-set -linux_immutable --inh-caps
  // -linux_immutable`, `chroot ROOT /bin/sh -c CMD`. Same pid namespace:
  // the host sees the command's processes by their own pids.
  chroot,
  // `systemd-nspawn --register=no --keep-unit --quiet --pipe -D ROOT
  // --drop-capability=CAP_LINUX_IMMUTABLE --bind[-ro]=HOST:GUEST -- /bin/sh
  // -c CMD`, a unique --machine name (parallel tests), and
  // --resolv-conf=off --timezone=off --link-journal=no so that nspawn writes
  // nothing into the guest's /etc or /var. Its own pid namespace (the
  // command is pid 1 in it); /proc/PID/root of the command, seen from the
  // host, is the guest root itself (same st_dev and st_ino: nspawn
  // pivot_roots into a bind mount of ROOT): checked by
  // GuestTools.ProcessRootIsTheGuestRoot.
  nspawn,
};

std::string runtime_name(Runtime runtime);

// For gtest's messages and ctest's test names.
inline void
PrintTo(Runtime runtime, std::ostream* os)
{
  *os << runtime_name(runtime);
}

// For gtest parameter names: "chroot", "nspawn".
inline std::string
runtime_param_name(const ::testing::TestParamInfo<Runtime>& p)
{
  return runtime_name(p.param);
}

// A host directory seen inside the guest.
struct GuestBind
{
  std::string host;   // absolute host path
  std::string guest;  // absolute path inside the guest
  bool read_only = false;
};

// A command started inside a guest in the background (GuestRunner::start):
// its own process group, stdout and stderr to a file. The destructor stops
// it (SIGTERM to the group, SIGKILL after 10 s).
class GuestProcess
{
public:
  GuestProcess(pid_t pid, std::string log) : m_pid(pid), m_log(std::move(log)) {}
  GuestProcess(const GuestProcess&) = delete;
  GuestProcess& operator=(const GuestProcess&) = delete;
  ~GuestProcess() { stop(); }

  // The runtime's process (unshare or systemd-nspawn), the group's leader.
  [[nodiscard]] pid_t
  pid() const
  {
    return m_pid;
  }
  // Stops the group and reaps the leader; returns its wait status, or -1
  // when it had been stopped before.
  int stop();
  // What it wrote so far.
  [[nodiscard]] std::string output() const;

private:
  pid_t m_pid;
  std::string m_log;
};

// Runs shell commands inside a guest root as the guest's root would: uid 0,
// without CAP_LINUX_IMMUTABLE in any capability set (a guest cannot take
// the immutable flag off a unified file), with a clean environment (PATH,
// HOME=/root, LC_ALL=C; none of the host's variables, so PKGUNIFY_HOOKS=off
// of the test process does not reach the guest), stdin from /dev/null.
class GuestRunner
{
public:
  GuestRunner(Runtime runtime, std::string root);

  // Why `runtime` cannot be used here (not root, a tool missing), or "".
  static std::string unavailable(Runtime runtime);

  // Mounts `host` at `guest` inside the guest for the commands run
  // afterwards. For chroot the mount point is created in the root (its
  // components must be directories, no symlinks); nspawn creates it itself.
  void bind(const std::string& host, const std::string& guest, bool read_only = false);

  // Runs CMD (any sh script) inside the guest; its stderr goes to stdout, so
  // the output keeps the order. The runtime's own messages (stderr of
  // unshare or systemd-nspawn) follow it when the status is not 0: nspawn
  // has some even for a good run ("Attempted to remove disk file system
  // under /run/systemd/nspawn/propagate/..." where /run is no tmpfs). The
  // status is -1 when the command was killed (after timeout_s seconds).
  ShellResult run(const std::string& cmd, int timeout_s = 180) const;

  // Starts CMD inside the guest without waiting for it.
  [[nodiscard]] GuestProcess start(const std::string& cmd, const std::string& log_file) const;

  // The full command line run() uses.
  [[nodiscard]] std::vector<std::string> argv(const std::string& cmd) const;

  [[nodiscard]] Runtime
  runtime() const
  {
    return m_runtime;
  }
  [[nodiscard]] const std::string&
  root() const
  {
    return m_root;
  }

private:
  [[nodiscard]] std::vector<std::string> chroot_argv(const std::string& cmd) const;
  [[nodiscard]] std::vector<std::string> nspawn_argv(const std::string& cmd) const;
  void check_mount_points() const;

  Runtime m_runtime;
  std::string m_root;
  std::vector<GuestBind> m_binds;
};

// The processes in `runner`'s process tree (its descendants, itself
// included) whose root directory (/proc/PID/root, as the host sees it) is
// the directory `root` (same device and inode); with `runner` 0, of all
// processes.
std::vector<pid_t> processes_rooted_at(pid_t runner, const std::string& root);

// The capability sets of a process from /proc/PID/status ("self" for the
// caller): CapInh, CapPrm, CapEff, CapBnd, CapAmb as numbers.
struct CapSets
{
  std::uint64_t inh = 0, prm = 0, eff = 0, bnd = 0, amb = 0;
  [[nodiscard]] bool
  any_has(unsigned cap) const
  {
    const std::uint64_t bit = std::uint64_t{1} << cap;
    return ((inh | prm | eff | bnd | amb) & bit) != 0;
  }
};
// Parses the text of a /proc/PID/status file; throws when a set is missing.
CapSets parse_cap_sets(const std::string& status_text);

// ---- Local repositories ---------------------------------------------------------

// A flat apt repository in `dir` (created): the .debs copied in, their
// index Packages (dpkg-scanpackages --multiversion, so that several
// versions of a package can be offered) and an unsigned Release naming it.
// Throws when the index cannot be made.
void make_apt_repo(const std::string& dir, const std::vector<std::string>& debs);

// Points the guest's apt at the repository seen at `guest_dir` inside it
// (a bind or a copy): ROOT/etc/apt/sources.list.d/pkgunify-test.list with
// `deb [trusted=yes] file:GUEST_DIR ./`, the only source the guest has
// (install_host_tools copies no sources.list). `apt-get update` inside the
// guest reads it.
void use_apt_repo(const std::string& root, const std::string& guest_dir);

// An rpm-md repository in `dir` (created): the .rpms copied in and
// createrepo_c's metadata. Throws when createrepo_c fails.
void make_rpm_repo(const std::string& dir, const std::vector<std::string>& rpms);

// Makes the repository seen at `guest_dir` the only one dnf in the guest
// knows: ROOT/etc/dnf/dnf.conf (replacing the host's copy) with reposdir
// /etc/pkgunify-test/yum.repos.d, a cachedir of its own, gpgcheck off, no
// plugins, no weak dependencies, and the repository file in that reposdir
// (baseurl file://GUEST_DIR, metadata never cached across runs). Nothing
// can make dnf reach a network.
void use_dnf_repo(const std::string& root, const std::string& guest_dir);

}  // namespace pkgunify::itest
