// SPDX-License-Identifier: GPL-2.0-or-later
// A guest's root user writes its own package database, which pkgunify reads
// as root on the host (issue #15, items 6 and 7): every file of it has a
// size limit (a sparse file fails at once, without costing its apparent
// size), a FIFO in a file's place never blocks a read, no symlink on the way
// to the database leads to the host's, and librpm reads a private copy of an
// rpm database, never a path inside the guest.
#include "pkgdb/internal/rpm_copy.hpp"
#include "pkgdb/pkgdb.hpp"
#include "procutil.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

using pkgunify::open_dpkg_db;
using pkgunify::open_package_db;
using pkgunify::open_rpm_db;
using pkgunify::PackageDbError;
using pkgunify::PackageInfo;

namespace fs = std::filesystem;

namespace {

using pkgunify::test::run;
using pkgunify::test::write_file;

// 1.5 GB: what a guest's sparse file claims.
constexpr off_t k_sparse_size = off_t{1536} << 20;

void
make_sparse(const std::string& path, off_t size = k_sparse_size)
{
  fs::create_directories(fs::path(path).parent_path());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::ftruncate(fd, size), 0) << path;
  ::close(fd);
}

void
make_fifo(const std::string& path)
{
  fs::create_directories(fs::path(path).parent_path());
  std::error_code ec;
  fs::remove(path, ec);
  ASSERT_EQ(::mkfifo(path.c_str(), 0644), 0) << path;
}

// Pages of the process: {virtual size, resident}, in bytes.
std::pair<long, long>
process_memory()
{
  std::ifstream statm("/proc/self/statm");
  long size = 0;
  long resident = 0;
  statm >> size >> resident;
  return {size * ::sysconf(_SC_PAGESIZE), resident * ::sysconf(_SC_PAGESIZE)};
}

// What a read in a child process did: its error message (or "(no error)",
// "(bad_alloc)", "(other exception)"), whether it finished in time, and how
// much more memory it touched than the process had.
struct ChildRead
{
  std::string message;
  bool finished = false;
  long extra_rss = 0;
};

// Runs `fn` in a child whose address space may grow by 256 MiB at most
// (RLIMIT_AS: allocating a sparse file's apparent size fails there) and
// which is killed after 20 seconds (a read blocked on a FIFO).
ChildRead
read_in_child(const std::function<void()>& fn)
{
  ChildRead result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return result;
  }
  const auto [vsize, rss] = process_memory();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    const rlim_t limit = static_cast<rlim_t>(vsize) + (rlim_t{256} << 20);
    const struct rlimit rl = {limit, limit};
    ::setrlimit(RLIMIT_AS, &rl);
    ::alarm(20);
    std::string message = "(no error)";
    try {
      fn();
    } catch (const PackageDbError& e) {
      message = e.what();
    } catch (const std::bad_alloc&) {
      message = "(bad_alloc)";
    } catch (...) {
      message = "(other exception)";
    }
    const ssize_t written = ::write(fds[1], message.data(), message.size());
    ::_exit(written == static_cast<ssize_t>(message.size()) ? 0 : 1);
  }
  ::close(fds[1]);
  result.message = pkgunify::test::read_file("/proc/self/fd/" + std::to_string(fds[0]));
  ::close(fds[0]);
  int status = 0;
  struct rusage usage = {};
  if (pid > 0 && ::wait4(pid, &status, 0, &usage) == pid) {
    result.finished = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    result.extra_rss = usage.ru_maxrss * 1024 - rss;
  }
  return result;
}

// The read failed at once with an error that starts with `prefix`, within
// the memory the child had.
void
expect_refused(const ChildRead& read, const std::string& prefix, const std::string& also = {})
{
  EXPECT_TRUE(read.finished) << "the read blocked or crashed";
  EXPECT_EQ(read.message.rfind(prefix, 0), 0u) << read.message;
  if (!also.empty()) {
    EXPECT_NE(read.message.find(also), std::string::npos) << read.message;
  }
  EXPECT_LT(read.extra_rss, 64L << 20) << "the read touched " << (read.extra_rss >> 20) << " MiB";
}

std::vector<std::string>
names_of(const std::vector<PackageInfo>& pkgs)
{
  std::vector<std::string> out;
  for (const PackageInfo& p : pkgs) {
    out.push_back(p.name);
  }
  return out;
}

const std::string k_guest_status = "Package: guestpkg\nStatus: install ok installed\nArchitecture: all\n"
                                   "Version: 1.0\n\n";
const std::string k_host_status = "Package: hostpkg\nStatus: install ok installed\nArchitecture: all\n"
                                  "Version: 6.6\n\n";

// ---- dpkg ------------------------------------------------------------------

class DpkgHostile : public pkgunify::test::TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    root = path("guest");
    admin = root + "/var/lib/dpkg";
    write_file(admin + "/status", k_guest_status);
    write_file(admin + "/info/guestpkg.list", "/.\n/usr\n/usr/bin\n/usr/bin/guest\n");
    write_file(admin + "/info/guestpkg.md5sums", "0123456789abcdef0123456789abcdef  usr/bin/guest\n");
    // A database outside the guest root, as the host's would be.
    host_admin = path("host/var/lib/dpkg");
    write_file(host_admin + "/status", k_host_status);
    write_file(host_admin + "/info/hostpkg.list", "/.\n/usr\n/usr/bin/host-secret\n");
    write_file(host_admin + "/updates/0000", k_host_status);
  }

  // Reads every package of the guest's dpkg database in a child.
  [[nodiscard]] ChildRead
  read_all() const
  {
    return read_in_child([this] { static_cast<void>(open_dpkg_db(root)->packages()); });
  }

  std::string root;
  std::string admin;
  std::string host_admin;
};

TEST_F(DpkgHostile, ReadsTheGuestsOwnDatabase)
{
  const auto pkgs = open_dpkg_db(root)->packages();
  EXPECT_EQ(names_of(pkgs), (std::vector<std::string>{"guestpkg"}));
  EXPECT_EQ(read_all().message, "(no error)");
}

TEST_F(DpkgHostile, SparseStatusFailsFastNamingIt)
{
  make_sparse(admin + "/status");
  expect_refused(read_all(), admin + "/status: cannot read dpkg status: larger than 67108864 bytes");
}

TEST_F(DpkgHostile, SparseListFailsFastNamingIt)
{
  make_sparse(admin + "/info/guestpkg.list");
  expect_refused(read_all(), admin + "/info/guestpkg.list: cannot read file list of installed package guestpkg",
                 "larger than 33554432 bytes");
}

TEST_F(DpkgHostile, SparseMd5sumsAndConffilesFailFastNamingThem)
{
  make_sparse(admin + "/info/guestpkg.md5sums");
  expect_refused(read_all(), admin + "/info/guestpkg.md5sums: cannot read md5sums", "larger than 33554432 bytes");
  fs::remove(admin + "/info/guestpkg.md5sums");
  make_sparse(admin + "/info/guestpkg.conffiles");
  expect_refused(read_all(), admin + "/info/guestpkg.conffiles: cannot read conffiles", "larger than 33554432 bytes");
}

TEST_F(DpkgHostile, SparseJournalFileFailsFastNamingIt)
{
  make_sparse(admin + "/updates/0000");
  expect_refused(read_all(), admin + "/updates/0000: cannot read dpkg status: larger than 67108864 bytes");
  // All of the journal together has the status file's limit too.
  make_sparse(admin + "/updates/0000", off_t{40} << 20);
  make_sparse(admin + "/updates/0001", off_t{40} << 20);
  expect_refused(read_all(), admin + "/updates: cannot read dpkg journal: its files hold more than 67108864 bytes");
}

TEST_F(DpkgHostile, TooManyJournalFilesFail)
{
  // Hard links of one empty file: dpkg names its journal files 0000 to 9999.
  write_file(admin + "/updates/empty", "");
  for (int i = 0; i <= 10000; ++i) {
    const std::string name = admin + "/updates/" + std::to_string(100000 + i);
    ASSERT_EQ(::link((admin + "/updates/empty").c_str(), name.c_str()), 0) << name;
  }
  expect_refused(read_all(), admin + "/updates: cannot read dpkg journal: more than 10000 entries");
}

TEST_F(DpkgHostile, FifoInAFilesPlaceNeverBlocks)
{
  make_fifo(admin + "/info/guestpkg.list");
  expect_refused(read_all(), admin + "/info/guestpkg.list: ", "not a regular file");
  make_fifo(admin + "/updates/0000");
  expect_refused(read_all(), admin + "/updates/0000: cannot read dpkg status: not a regular file");
  make_fifo(admin + "/status");
  expect_refused(read_all(), admin + "/status: cannot read dpkg status: not a regular file");
}

TEST_F(DpkgHostile, SymlinkedAdmindirIsNeverFollowed)
{
  // The guest's var/lib/dpkg, then its var/lib, lead to the host's database.
  for (const std::string& link : {std::string("var/lib/dpkg"), std::string("var/lib")}) {
    fs::remove_all(root + "/var");
    fs::create_directories(root + "/" + fs::path(link).parent_path().string());
    fs::create_symlink(link == "var/lib" ? path("host/var/lib") : host_admin, root + "/" + link);
    // For --db auto the root has no database: nothing is read through it.
    EXPECT_EQ(open_package_db(root), nullptr) << link;
    // Asked for by name, it is an error naming it.
    EXPECT_EQ(pkgunify::test::db_error([&] { open_dpkg_db(root); }),
              admin + ": it or a directory on the way is a symlink, never followed inside a guest");
  }
}

TEST_F(DpkgHostile, SymlinkedStatusInfoOrJournalIsNeverFollowed)
{
  fs::remove(admin + "/status");
  fs::create_symlink(host_admin + "/status", admin + "/status");
  // "not a regular file", or ELOOP's text: what sys::open_regular_at says of a symlink.
  const std::string status_msg = pkgunify::test::db_error([&] { open_dpkg_db(root); });
  EXPECT_EQ(status_msg.rfind(admin + "/status: cannot read dpkg status: ", 0), 0u) << status_msg;

  fs::remove(admin + "/status");
  write_file(admin + "/status", k_guest_status + "Package: hostpkg\nStatus: install ok installed\nVersion: 1\n\n");
  fs::rename(admin + "/info", admin + "/info.real");
  fs::create_symlink(host_admin + "/info", admin + "/info");
  const std::string msg = pkgunify::test::db_error([&] { open_dpkg_db(root)->packages(); });
  EXPECT_EQ(msg.rfind(admin + "/info/guestpkg.list: cannot read file list", 0), 0u) << msg;
  EXPECT_NE(msg.find("a symlink, never followed inside a guest"), std::string::npos) << msg;
  fs::remove(admin + "/info");
  fs::rename(admin + "/info.real", admin + "/info");

  write_file(admin + "/status", k_guest_status);
  fs::create_symlink(host_admin + "/updates", admin + "/updates");
  EXPECT_EQ(pkgunify::test::db_error([&] { open_dpkg_db(root); }),
            admin
              + "/updates: cannot read dpkg journal: it or a directory on the way is a symlink, never followed "
                "inside a guest");
}

// ---- rpm -------------------------------------------------------------------

// The test package of the fuzzing corpus: tinypkg-1.0-1.noarch, /usr/bin/hello.
const std::string k_tiny_rpm = std::string(PKGUNIFY_SOURCE_DIR) + "/tests/fuzz/corpus/rpm/tiny.rpm";

// Where DbCopy makes its copies.
using pkgunify::rpm::copy_parent_dir;

std::vector<std::string>
leftover_copies()
{
  std::vector<std::string> out;
  const std::string prefix = "rpmdb-" + std::to_string(::getpid()) + ".";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(copy_parent_dir(), ec)) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

// Every entry of `dir` with its size and mtime: what a read must not change.
std::vector<std::string>
listing(const std::string& dir)
{
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    struct stat st;
    ::lstat(e.path().c_str(), &st);
    out.push_back(e.path().filename().string() + " " + std::to_string(st.st_size) + " "
                  + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class RpmHostile : public pkgunify::test::TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    if (!pkgunify::test::have_tool("rpm")) {
      GTEST_SKIP() << "rpm is not installed: no rpm database can be made";
    }
    root = path("guest");
    fs::create_directories(root);
    host_db = path("host/var/lib/rpm");
    ASSERT_NO_FATAL_FAILURE(make_db(host_db, true));
  }

  void
  TearDown() override
  {
    EXPECT_EQ(leftover_copies(), std::vector<std::string>{}) << "a private copy of an rpm database was left";
    TempDirTest::TearDown();
  }

  // A real rpm database in `dir`, by rpm itself; with the test package
  // installed (only into the database) when `with_package`.
  static void
  make_db(const std::string& dir, bool with_package)
  {
    fs::create_directories(dir);
    auto r = run({"rpm", "--dbpath", dir, "--initdb"});
    ASSERT_EQ(r.status, 0) << r.output;
    if (with_package) {
      r = run({"rpm", "--dbpath", dir, "-i", "--justdb", "--nodeps", "--nosignature", k_tiny_rpm});
      ASSERT_EQ(r.status, 0) << r.output;
    }
  }

  std::string root;
  std::string host_db;
};

TEST_F(RpmHostile, ARealGuestDatabaseIsReadThroughAPrivateCopy)
{
  const std::string db = root + "/var/lib/rpm";
  ASSERT_NO_FATAL_FAILURE(make_db(db, true));
  const auto before = listing(db);
  auto opened = open_package_db(root);
  ASSERT_NE(opened, nullptr);
  EXPECT_EQ(opened->kind(), "rpm");
  EXPECT_EQ(opened->location(), db);
  const auto pkgs = opened->packages();
  ASSERT_EQ(names_of(pkgs), (std::vector<std::string>{"tinypkg"}));
  EXPECT_EQ(pkgs[0].version, "1.0-1");
  ASSERT_EQ(pkgs[0].files.size(), 1u);
  EXPECT_EQ(pkgs[0].files[0].path, "/usr/bin/hello");
  std::vector<std::string> missing;
  EXPECT_EQ(opened->packages({"tinypkg", "nope"}, missing).size(), 1u);
  EXPECT_EQ(missing, (std::vector<std::string>{"nope"}));
  EXPECT_EQ(opened->stamps().size(), 1u);
  const std::string marker = opened->change_marker();
  EXPECT_NE(marker.find("rpmdb.sqlite="), std::string::npos) << marker;
  // librpm and sqlite wrote nothing into the guest's directory: they never saw it.
  EXPECT_EQ(listing(db), before);
  EXPECT_EQ(leftover_copies(), std::vector<std::string>{});
}

TEST_F(RpmHostile, SymlinkedDatabaseDirectoryIsNeverFollowed)
{
  // Every place a root's rpm database may be, as a symlink to the host's.
  for (const char* db : {"var/lib/rpm", "usr/lib/sysimage/rpm", "root/.rpmdb"}) {
    fs::remove_all(root);
    fs::create_directories(root + "/" + fs::path(db).parent_path().string());
    fs::create_symlink(host_db, root + "/" + db);
    EXPECT_EQ(open_package_db(root), nullptr) << db;
    const std::string msg = pkgunify::test::db_error([&] { open_rpm_db(root); });
    EXPECT_EQ(msg.rfind("no rpm database in " + root, 0), 0u) << msg;
    EXPECT_NE(msg.find(root + "/" + db + ": it or a directory on the way is a symlink"), std::string::npos) << msg;
  }
  // A directory above it, too.
  fs::remove_all(root);
  fs::create_directories(root + "/var");
  fs::create_symlink(path("host/var/lib"), root + "/var/lib");
  EXPECT_EQ(open_package_db(root), nullptr);
}

TEST_F(RpmHostile, SymlinkedDatabaseFileIsNeverOpened)
{
  const std::string db = root + "/var/lib/rpm";
  fs::create_directories(db);
  fs::create_symlink(host_db + "/rpmdb.sqlite", db + "/rpmdb.sqlite");
  EXPECT_EQ(open_package_db(root), nullptr);
  // Next to a real database, a symlinked file is left out of the copy.
  fs::remove(db + "/rpmdb.sqlite");
  ASSERT_NO_FATAL_FAILURE(make_db(db, false));
  fs::remove(db + "/rpmdb.sqlite-wal");
  fs::create_symlink(host_db + "/rpmdb.sqlite", db + "/rpmdb.sqlite-wal");
  EXPECT_EQ(open_rpm_db(root)->packages().size(), 0u);
}

TEST_F(RpmHostile, FedoraLayoutWithARelativeSymlinkStillReads)
{
  // Fedora: var/lib/rpm -> ../../usr/lib/sysimage/rpm. The symlink is not
  // followed; the database is found where it is.
  ASSERT_NO_FATAL_FAILURE(make_db(root + "/usr/lib/sysimage/rpm", true));
  fs::create_directories(root + "/var/lib");
  fs::create_symlink("../../usr/lib/sysimage/rpm", root + "/var/lib/rpm");
  auto db = open_package_db(root);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->location(), root + "/usr/lib/sysimage/rpm");
  EXPECT_EQ(names_of(db->packages()), (std::vector<std::string>{"tinypkg"}));
}

TEST_F(RpmHostile, SparseDatabaseFileFailsFastNamingIt)
{
  const std::string db = root + "/var/lib/rpm";
  ASSERT_NO_FATAL_FAILURE(make_db(db, true));
  auto opened = open_rpm_db(root);
  make_sparse(db + "/rpmdb.sqlite-wal");
  expect_refused(read_in_child([&] { static_cast<void>(opened->packages()); }),
                 db + "/rpmdb.sqlite-wal: cannot read rpm database: larger than 1073741824 bytes");
  fs::remove(db + "/rpmdb.sqlite-wal");
  make_sparse(db + "/rpmdb.sqlite");
  expect_refused(read_in_child([&] { static_cast<void>(open_rpm_db(root)->packages()); }),
                 db + "/rpmdb.sqlite: cannot read rpm database: larger than 1073741824 bytes");
}

TEST_F(RpmHostile, FifoInTheDatabaseDirectoryNeverBlocks)
{
  const std::string db = root + "/var/lib/rpm";
  ASSERT_NO_FATAL_FAILURE(make_db(db, true));
  make_fifo(db + "/rpmdb.sqlite-wal");
  const ChildRead read = read_in_child([&] {
    if (open_rpm_db(root)->packages().size() != 1) {
      throw PackageDbError("(wrong packages)");
    }
  });
  EXPECT_TRUE(read.finished);
  EXPECT_EQ(read.message, "(no error)");
}

TEST_F(RpmHostile, CorruptDatabaseFailsNamingItAndLeavesNoCopy)
{
  const std::string db = root + "/var/lib/rpm";
  write_file(db + "/rpmdb.sqlite", "this is not an sqlite database\n");
  auto opened = open_rpm_db(root);
  const std::string msg = pkgunify::test::db_error([&] { opened->packages(); });
  EXPECT_EQ(msg.rfind(db + ": cannot open rpm database", 0), 0u) << msg;
  EXPECT_EQ(msg.find(copy_parent_dir() + "/rpmdb-"), std::string::npos) << "names the copy: " << msg;
  EXPECT_EQ(leftover_copies(), std::vector<std::string>{});
}

}  // namespace
