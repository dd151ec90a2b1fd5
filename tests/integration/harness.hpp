// SPDX-License-Identifier: GPL-2.0-or-later
// Fixture library for the integration tests: they run the real pkgunify
// binary (PKGUNIFY_BINARY) on directory trees built in a fresh temporary
// directory and check the outcome by inode numbers and byte comparison.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pkgunify::itest {

using Json = nlohmann::json;
// xattr name -> raw value
using XattrMap = std::map<std::string, std::string>;

// ---- Files -------------------------------------------------------------

// What write_file() creates. Two files written from equal specs are
// identical for pkgunify (content, owner, mode, mtime, xattrs).
struct FileSpec
{
  std::string content;
  mode_t mode = 0644;        // permission bits incl. setuid/setgid/sticky
  std::optional<uid_t> uid;  // unset: whoever creates it
  std::optional<gid_t> gid;
  struct timespec mtime
  {
    1600000000, 123456789
  };
  XattrMap xattrs;
};

// A spec whose content is `size` bytes derived from `seed`.
FileSpec sized_spec(std::size_t size, const std::string& seed = "pkgunify");

// Creates `path` as a new inode (removing what was there; missing parent
// directories are made with mode 0755) and applies the spec: content, then
// owner, xattrs, mode, mtime.
//
// The helpers below throw std::runtime_error when the system refuses
// something (GoogleTest reports it and ends the test).
void write_file(const std::string& path, const FileSpec& spec);

// Writes the spec to a temporary name next to `path` and renames it over
// `path`: a new inode, the way package managers replace files.
void replace_file(const std::string& path, const FileSpec& spec);

void make_dirs(const std::string& path, mode_t mode = 0755);

void make_symlink(const std::string& target, const std::string& path);

std::string read_file(const std::string& path);

// Writes `text` to `path` (for policy files).
void write_text(const std::string& path, const std::string& text);

bool exists(const std::string& path);  // lstat succeeds

struct FileStat
{
  dev_t dev = 0;
  ino_t ino = 0;
  nlink_t nlink = 0;
  mode_t mode = 0;  // full st_mode (type and permission bits)
  uid_t uid = 0;
  gid_t gid = 0;
  std::int64_t mtime_ns = 0;
  off_t size = 0;
};

// lstat.
FileStat stat_path(const std::string& path);

// llistxattr/lgetxattr: every attribute the caller may read.
XattrMap list_xattrs(const std::string& path);

std::string read_link(const std::string& path);

// The protecting inode flags (FS_IMMUTABLE_FL, FS_APPEND_FL) of a regular
// file or directory; 0 for other types or where the filesystem has none.
unsigned protection_flags(const std::string& path);

bool has_immutable_flag(const std::string& path);

// chattr +i / -i.
void set_immutable_flag(const std::string& path, bool on);

// Runs `fn` with the immutable flag of `path` lifted (when it is set) and
// sets it again afterwards: how a test simulates damage that happens beneath
// the protection (a disk error, a guest holding CAP_LINUX_IMMUTABLE).
void with_protection_lifted(const std::string& path, const std::function<void()>& fn);

// Clears the protecting flags of everything below `top` (not following
// symlinks), so that it can be removed.
void clear_protection(const std::string& top);

// ---- Tree snapshots ------------------------------------------------------

struct Entry
{
  char type = '?';  // f d l p c b s
  ino_t ino = 0;
  nlink_t nlink = 0;
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::int64_t mtime_ns = 0;
  off_t size = 0;
  std::string content;  // regular files: all bytes
  std::string target;   // symlinks
  XattrMap xattrs;
  unsigned protection = 0;  // protection_flags()
};

// Relative path ("." for the top) -> entry. Never follows symlinks.
using Snapshot = std::map<std::string, Entry>;

Snapshot snapshot(const std::string& top);

struct CompareOptions
{
  bool inodes = true;      // inode numbers and link counts
  bool dir_mtime = true;   // mtimes of directories (entries added/removed)
  bool protection = true;  // immutable and append-only flags
};

// Human-readable differences; empty when equal.
std::vector<std::string> diff_snapshots(const Snapshot& before, const Snapshot& after,
                                        const CompareOptions& options = {});

std::string join_lines(const std::vector<std::string>& lines);

// ---- Store ----------------------------------------------------------------

struct ObjectInfo
{
  std::string path;  // absolute
  std::string name;  // "ab/cdef…[.N]", relative to STORE/objects
  ino_t ino = 0;
  nlink_t nlink = 0;
  off_t size = 0;
  mode_t mode = 0;
};

// Every entry of STORE/objects/*/, sorted by name.
std::vector<ObjectInfo> store_objects(const std::string& store);

// The object whose inode is `ino`, if any.
std::optional<ObjectInfo> object_with_inode(const std::string& store, ino_t ino);

// "ab/cdef…": the name pkgunify gives the object for the file at `path`
// (full identity: owner, mode, size, mtime, xattrs, content), computed with
// the core library from the file as it is now.
std::string expected_object_name(const std::string& path);

// Names in a directory ("." and ".." left out), sorted; empty when missing.
std::vector<std::string> list_dir(const std::string& path);

// Paths (relative to `top`) of every name beginning with ".#pkgunify.".
std::vector<std::string> find_temp_names(const std::string& top);

// ---- Running pkgunify ------------------------------------------------------

struct RunResult
{
  std::vector<std::string> args;  // argv, program first
  int exit_code = -1;             // -1 when killed by a signal
  int term_signal = 0;
  bool timed_out = false;
  std::string out;
  std::string err;

  // stdout parsed as JSON; throws when it is no JSON.
  [[nodiscard]] Json json() const;
  // For assertion messages: command line, status, stdout, stderr.
  [[nodiscard]] std::string describe() const;
};

// Runs `argv` (argv[0] looked up in PATH; posix_spawnp, stdin from
// /dev/null), capturing stdout and stderr. Kills it after `timeout_s`
// seconds.
RunResult run_command(const std::vector<std::string>& argv, int timeout_s = 120);

// Starts `argv` (argv[0] looked up in PATH; posix_spawnp) with stdin from
// /dev/null and stdout and stderr on `out_fd` and `err_fd`; returns its pid.
// Throws when it cannot be started.
pid_t spawn_command(const std::vector<std::string>& argv, int out_fd, int err_fd);

// Runs PKGUNIFY_BINARY with `args`.
RunResult run_pkgunify(const std::vector<std::string>& args, int timeout_s = 120);

// A JSON counter as an integer; throws when missing or no integer.
std::int64_t counter(const Json& j, const std::string& key);

// skipped[reason], 0 when absent.
std::int64_t skipped(const Json& j, const std::string& reason);

// ---- Parameters ---------------------------------------------------------------

// A link mode and the filesystem to run it on ("" for the test directory).
using ModeParam = std::pair<std::string, std::string>;

// "immutable", "reflink_btrfs": test-name suffixes for ModeParam.
inline std::string
mode_name(const ::testing::TestParamInfo<ModeParam>& p)
{
  return p.param.first + (p.param.second.empty() ? "" : "_" + p.param.second);
}

// ---- Fixture ----------------------------------------------------------------

// Gives every test a fresh temporary directory, removed afterwards with
// everything in it: mounts made through the fixture are unmounted first, and
// immutable or append-only flags (link mode immutable) are cleared when the
// removal needs it.
class IntegrationTest : public ::testing::Test
{
protected:
  void SetUp() override;
  void TearDown() override;

  // The test's private temporary directory (/tmp/pkgunify-itest.XXXXXX).
  [[nodiscard]] const std::string&
  tmp() const
  {
    return m_dir;
  }
  // tmp()/rel
  [[nodiscard]] std::string path(const std::string& rel) const;
  // The default store of the fixture: tmp()/store (same filesystem as roots).
  [[nodiscard]] std::string
  store() const
  {
    return path("store");
  }

  // Creates tmp()/PREFIX1 … tmp()/PREFIXn and returns their paths.
  std::vector<std::string> make_roots(std::size_t n, const std::string& prefix = "g") const;

  // Writes the same file into several roots: root/rel for each root.
  static void write_in_roots(const std::vector<std::string>& roots, const std::string& rel, const FileSpec& spec);

  // `pkgunify scan --json --store STORE EXTRA... ROOTS...`; STORE is
  // `store_path`, or store() when empty.
  RunResult scan(const std::vector<std::string>& roots, const std::vector<std::string>& extra = {},
                 const std::string& store_path = {}) const;
  // As scan(), expecting exit status 0: a test failure and an exception
  // (which ends the test) otherwise.
  Json scan_ok(const std::vector<std::string>& roots, const std::vector<std::string>& extra = {},
               const std::string& store_path = {}) const;

  // `pkgunify store ACTION --json --store STORE EXTRA...`
  RunResult store_cmd(const std::string& action, const std::vector<std::string>& extra = {}) const;

  // The link mode scan() asks for with --link; empty (the default): none,
  // so the policy's applies (built in: auto).
  void
  set_link_mode(const std::string& mode)
  {
    m_link_mode = mode;
  }
  [[nodiscard]] const std::string&
  link_mode() const
  {
    return m_link_mode;
  }
  // {"--link", MODE}, or nothing: for commands run without scan().
  [[nodiscard]] std::vector<std::string> link_args() const;

  // When `guest_path` is protected (immutable), `pkgunify release` turns it
  // into a private writable file, as the package-manager hooks do before
  // they replace or remove a file; nothing otherwise. Fails the test (and
  // throws) when the release fails.
  static void make_replaceable(const std::string& guest_path);

  // Mounts a tmpfs at `dir` (created); false when the mount fails. Unmounted
  // in TearDown.
  bool mount_tmpfs(const std::string& dir, const std::string& options = "size=64m");

  // Mounts a fresh ext4 filesystem at `dir` (created), held in memory: an
  // image on /dev/shm, loop-mounted. Much faster than the disk for tests
  // that create tens of thousands of inodes. False when it cannot be made
  // (not root, no mkfs.ext4 or loop devices). Unmounted in TearDown.
  bool mount_ram_ext4(const std::string& dir, unsigned size_mib, unsigned inodes);

  // Makes a `type` filesystem (ext4, btrfs, xfs with reflink=1) in a sparse
  // image on /dev/shm and loop-mounts it at `dir` (created). Returns an empty
  // string on success, else why it cannot (for GTEST_SKIP). Unmounted in
  // TearDown, which discards everything in it, immutable files included.
  std::string mount_fs(const std::string& type, const std::string& dir, unsigned size_mib = 512);

  // Where a test's guests and store go: tmp() when `type` is empty, else a
  // fresh `type` filesystem mounted at tmp()/mnt (mount_fs). Sets `top`;
  // returns why it cannot, else an empty string.
  std::string guest_top(const std::string& type, std::string& top);

  // A fresh directory on /dev/shm, removed in TearDown.
  std::string shm_dir();

  static bool is_root();

private:
  std::string m_link_mode;
  std::string m_dir;
  std::vector<std::string> m_mounts;
  std::vector<std::string> m_extra_dirs;
};

// An IntegrationTest run once per link mode, its parameter: scans get
// --link MODE, except for "default" (the policy's mode).
class PerLinkMode
  : public IntegrationTest
  , public ::testing::WithParamInterface<std::string>
{
protected:
  void SetUp() override;
};

}  // namespace pkgunify::itest
