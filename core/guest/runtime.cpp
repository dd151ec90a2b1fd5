// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/runtime.hpp"

#include "sys/fd.hpp"
#include "sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

namespace pkgunify {

namespace {

constexpr unsigned k_stripes = 64;
constexpr char k_magic[8] = {'P', 'K', 'G', 'L', 'I', 'F', 'T', '1'};
constexpr std::size_t k_handle_max = 128;  // MAX_HANDLE_SZ

struct Runtime
{
  std::mutex mutex;
  bool opened = false;
  sys::Error error;
  sys::Fd dir, locks, lifted;
  // Opened by this process: a child of fork() shares its parent's open file
  // descriptions, and so its flock()s, and opens its own.
  std::array<sys::Fd, k_stripes> stripes;
  pid_t stripes_pid = 0;
  std::array<std::timed_mutex, k_stripes> stripe_mutex;
};

Runtime&
runtime()
{
  static Runtime r;
  return r;
}

// Root's own, and nobody else may write to it.
sys::Result<sys::Fd>
open_private_dir(int parent, const std::string& name, mode_t mode, const std::string& display)
{
  if (auto e = sys::ensure_dir_at(parent, name, mode, display); !e) {
    return std::unexpected(e.error());
  }
  sys::Fd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    return sys::fail_sys("open", display);
  }
  auto st = sys::fstat_fd(fd.get(), display);
  if (!st) {
    return std::unexpected(st.error());
  }
  if (st->st_uid != ::geteuid() || (st->st_mode & 022) != 0) {
    return sys::fail(display + ": not private (it must be root's and writable by root only)", EPERM);
  }
  return fd;
}

sys::Result<void>
open_runtime(Runtime& r)
{
  const std::string& path = runtime_dir_path();
  auto dir = open_private_dir(AT_FDCWD, path, 0755, path);
  if (!dir) {
    return std::unexpected(dir.error());
  }
  auto locks = open_private_dir(dir->get(), "locks", 0700, path + "/locks");
  auto lifted = locks ? open_private_dir(dir->get(), "lifted", 0700, path + "/lifted") : sys::Result<sys::Fd>{};
  if (!locks || !lifted) {
    return std::unexpected((!locks ? locks : lifted).error());
  }
  r.dir = std::move(*dir);
  r.locks = std::move(*locks);
  r.lifted = std::move(*lifted);
  return {};
}

unsigned
stripe_of(const struct stat& st)
{
  const std::size_t h = std::hash<std::uint64_t>{}(static_cast<std::uint64_t>(st.st_ino) * 0x9e3779b97f4a7c15ULL
                                                   ^ static_cast<std::uint64_t>(st.st_dev));
  return static_cast<unsigned>(h % k_stripes);
}

std::string
stripe_name(unsigned stripe)
{
  return (stripe < 10 ? "inode-0" : "inode-") + std::to_string(stripe);
}

sys::Result<int>
stripe_fd(unsigned stripe)
{
  Runtime& r = runtime();
  std::lock_guard lock(r.mutex);
  if (r.stripes_pid != ::getpid()) {
    for (sys::Fd& fd : r.stripes) {
      fd.close();  // the parent's lock stays: it holds the description too
    }
    r.stripes_pid = ::getpid();
  }
  if (!r.stripes[stripe]) {
    const std::string name = stripe_name(stripe);
    r.stripes[stripe] = sys::Fd(::openat(r.locks.get(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!r.stripes[stripe]) {
      return sys::fail_sys("open", runtime_dir_path() + "/locks/" + name);
    }
  }
  return r.stripes[stripe].get();
}

}  // namespace

const std::string&
runtime_dir_path()
{
  static const std::string path = [] {
    const char* env = std::getenv("PKGUNIFY_RUNTIME_DIR");
    return std::string(env != nullptr && *env != '\0' ? env : "/run/pkgunify");
  }();
  return path;
}

sys::Result<void>
prepare_runtime_dir()
{
  Runtime& r = runtime();
  std::lock_guard lock(r.mutex);
  if (!r.opened) {
    r.opened = true;
    if (auto o = open_runtime(r); !o) {
      r.error = o.error();
    }
  }
  if (!r.dir) {
    return std::unexpected(r.error);
  }
  return {};
}

InodeLock::InodeLock(InodeLock&& other) noexcept : m_stripe(std::exchange(other.m_stripe, -1)) {}

InodeLock&
InodeLock::operator=(InodeLock&& other) noexcept
{
  if (this != &other) {
    release();
    m_stripe = std::exchange(other.m_stripe, -1);
  }
  return *this;
}

InodeLock::~InodeLock()
{
  release();
}

sys::Result<InodeLock>
InodeLock::acquire(const struct stat& st, std::string_view display, std::chrono::milliseconds timeout)
{
  if (auto p = prepare_runtime_dir(); !p) {
    return std::unexpected(p.error());
  }
  const unsigned stripe = stripe_of(st);
  auto fd = stripe_fd(stripe);
  if (!fd) {
    return std::unexpected(fd.error());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto timed_out = [&] {
    return sys::fail(std::string(display) + ": gave up after " + std::to_string(timeout.count() / 1000)
                       + " s waiting for another pkgunify run that has it lifted (lock " + runtime_dir_path()
                       + "/locks/" + stripe_name(stripe) + ")",
                     ETIMEDOUT);
  };
  std::timed_mutex& mutex = runtime().stripe_mutex[stripe];
  if (!mutex.try_lock_until(deadline)) {
    return timed_out();
  }
  auto pause = std::chrono::milliseconds(1);
  while (::flock(*fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const int code = errno;
      mutex.unlock();
      return sys::fail_sys("lock", runtime_dir_path() + "/locks", code);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      mutex.unlock();
      return timed_out();
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  InodeLock held;
  held.m_stripe = static_cast<int>(stripe);
  return held;
}

void
InodeLock::release()
{
  if (m_stripe < 0) {
    return;
  }
  const auto stripe = static_cast<unsigned>(std::exchange(m_stripe, -1));
  if (auto fd = stripe_fd(stripe)) {
    ::flock(*fd, LOCK_UN);
  }
  runtime().stripe_mutex[stripe].unlock();
}

// ---- the lift journal ----

namespace {

struct RecordHeader
{
  char magic[8];
  std::uint32_t protection;
  std::int32_t mount_id;
  std::uint64_t dev;
  std::uint64_t ino;
  std::int32_t handle_type;
  std::uint32_t handle_bytes;
  std::uint32_t path_bytes;
  std::uint32_t reserved;
};

// This thread's journal file: created under a dot name, locked, then given
// its name, so that a recovering run never takes a live one for dead.
struct Slot
{
  pid_t pid = 0;
  sys::Fd fd;
  std::string name;
  bool recorded = false;

  ~Slot()
  {
    if (fd && pid == ::getpid()) {
      if (Runtime& r = runtime(); r.lifted) {
        ::unlinkat(r.lifted.get(), name.c_str(), 0);
      }
    }
  }
};

thread_local Slot t_slot;
std::atomic<unsigned> g_slot_counter{0};

sys::Result<int>
slot_fd()
{
  if (t_slot.fd && t_slot.pid == ::getpid()) {
    return t_slot.fd.get();
  }
  if (auto p = prepare_runtime_dir(); !p) {
    return std::unexpected(p.error());
  }
  const int dir = runtime().lifted.get();
  const pid_t pid = ::getpid();
  const std::string name = std::to_string(pid) + "-" + std::to_string(g_slot_counter.fetch_add(1));
  const std::string tmp = "." + name;
  sys::Fd fd(::openat(dir, tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0 || ::renameat(dir, tmp.c_str(), dir, name.c_str()) != 0) {
    const int code = errno;
    ::unlinkat(dir, tmp.c_str(), 0);
    return sys::fail_sys("create", runtime_dir_path() + "/lifted/" + name, code);
  }
  t_slot.fd.release();  // a forked child's copy of the parent's slot: not ours to close
  t_slot.pid = pid;
  t_slot.fd = std::move(fd);
  t_slot.name = name;
  return t_slot.fd.get();
}

}  // namespace

sys::Result<void>
lift_journal::record(int fd, Protection restore, std::string_view display)
{
  auto jfd = slot_fd();
  if (!jfd) {
    return std::unexpected(jfd.error());
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return sys::fail_sys("stat", display);
  }
  RecordHeader h{};
  std::memcpy(h.magic, k_magic, sizeof h.magic);
  h.protection = static_cast<std::uint32_t>(restore);
  h.dev = st.st_dev;
  h.ino = st.st_ino;
  alignas(file_handle) unsigned char handle_buf[sizeof(file_handle) + k_handle_max];
  auto* handle = reinterpret_cast<file_handle*>(handle_buf);
  handle->handle_bytes = k_handle_max;
  int mount_id = -1;
  if (::name_to_handle_at(fd, "", handle, &mount_id, AT_EMPTY_PATH) == 0) {
    h.mount_id = mount_id;
    h.handle_type = handle->handle_type;
    h.handle_bytes = handle->handle_bytes;
  }
  h.path_bytes = static_cast<std::uint32_t>(std::min<std::size_t>(display.size(), PATH_MAX));
  std::string rec(reinterpret_cast<const char*>(&h), sizeof h);
  rec.append(reinterpret_cast<const char*>(handle->f_handle), h.handle_bytes);
  rec.append(display.substr(0, h.path_bytes));
  if (::pwrite(*jfd, rec.data(), rec.size(), 0) != static_cast<ssize_t>(rec.size())) {
    return sys::fail_sys("write", runtime_dir_path() + "/lifted/" + t_slot.name);
  }
  t_slot.recorded = true;
  return {};
}

void
lift_journal::clear()
{
  if (t_slot.recorded && t_slot.fd && t_slot.pid == ::getpid()) {
    const char zero[sizeof k_magic] = {};
    (void)!::pwrite(t_slot.fd.get(), zero, sizeof zero, 0);
    t_slot.recorded = false;
  }
}

// ---- recovery ----

namespace {

struct Record
{
  RecordHeader h{};
  std::string handle;
  std::string path;
};

std::optional<Record>
read_record(int fd)
{
  std::string buf(sizeof(RecordHeader) + k_handle_max + PATH_MAX, '\0');
  const ssize_t n = ::pread(fd, buf.data(), buf.size(), 0);
  Record r;
  if (n < static_cast<ssize_t>(sizeof r.h)) {
    return std::nullopt;
  }
  std::memcpy(&r.h, buf.data(), sizeof r.h);
  const std::size_t need = sizeof r.h + r.h.handle_bytes + r.h.path_bytes;
  if (std::memcmp(r.h.magic, k_magic, sizeof k_magic) != 0 || r.h.handle_bytes > k_handle_max
      || r.h.path_bytes > PATH_MAX || static_cast<std::size_t>(n) < need
      || r.h.protection > static_cast<std::uint32_t>(Protection::iunlink)) {
    return std::nullopt;
  }
  r.handle = buf.substr(sizeof r.h, r.h.handle_bytes);
  r.path = buf.substr(sizeof r.h + r.h.handle_bytes, r.h.path_bytes);
  return r;
}

// The mount point of mount `id` in /proc/self/mountinfo (octal escapes
// undone), or "".
std::string
mount_point_of(int id)
{
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int mid = -1;
    std::string parent, devno, root, point;
    if (fields >> mid >> parent >> devno >> root >> point && mid == id) {
      std::string out;
      for (std::size_t i = 0; i < point.size(); ++i) {
        if (point[i] == '\\' && i + 3 < point.size()) {
          out += static_cast<char>(std::stoi(point.substr(i + 1, 3), nullptr, 8));
          i += 3;
        } else {
          out += point[i];
        }
      }
      return out;
    }
  }
  return {};
}

// The recorded inode, by its handle where there is one, else by its path;
// only if it is still that inode.
sys::Fd
open_recorded(const Record& r)
{
  sys::Fd fd;
  if (r.h.handle_bytes > 0) {
    const std::string point = mount_point_of(r.h.mount_id);
    sys::Fd mount(point.empty() ? -1 : ::open(point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    alignas(file_handle) unsigned char buf[sizeof(file_handle) + k_handle_max];
    auto* handle = reinterpret_cast<file_handle*>(buf);
    handle->handle_bytes = r.h.handle_bytes;
    handle->handle_type = r.h.handle_type;
    std::memcpy(handle->f_handle, r.handle.data(), r.handle.size());
    if (mount) {
      fd = sys::Fd(::open_by_handle_at(mount.get(), handle, O_RDONLY | O_CLOEXEC));
    }
  }
  if (!fd && !r.path.empty() && r.path.front() == '/') {
    fd = sys::Fd(::open(r.path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  }
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != r.h.dev || st.st_ino != r.h.ino) {
    return {};
  }
  return fd;
}

bool
restore_record(const Record& r, const std::string& owner, Reporter& reporter)
{
  const auto protection = static_cast<Protection>(r.h.protection);
  const std::string what = (r.path.empty() ? "inode " + std::to_string(r.h.ino) : r.path);
  sys::Fd fd = open_recorded(r);
  if (!fd) {
    return false;  // removed meanwhile, or its name and inode parted
  }
  struct stat st;
  ::fstat(fd.get(), &st);
  auto lock = InodeLock::acquire(st, what);
  auto kernel = make_vserver_kernel();
  Protector protector(protection == Protection::iunlink ? LinkMode::iunlink : LinkMode::immutable, *kernel);
  auto state = lock ? protector.state(fd.get(), what) : sys::Result<Protection>(std::unexpected(lock.error()));
  if (state && *state == protection) {
    return false;
  }
  auto done = state ? protector.protect(fd.get(), what) : sys::Result<void>(std::unexpected(state.error()));
  if (!done) {
    reporter.error(done.error().message + " (restoring the protection that pkgunify run " + owner
                   + " left lifted when it was killed)");
    return false;
  }
  reporter.warning(what + ": protected (" + std::string(to_string(protection)) + ") again: pkgunify run " + owner
                   + " was killed while it had the protection lifted");
  return true;
}

}  // namespace

unsigned
recover_lifted(Reporter& reporter)
{
  if (!prepare_runtime_dir()) {
    return 0;
  }
  const int dir = runtime().lifted.get();
  DIR* d = ::fdopendir(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d == nullptr) {
    return 0;
  }
  unsigned restored = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.starts_with(".") || name == t_slot.name) {
      continue;
    }
    sys::Fd fd(::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      continue;  // its run is alive
    }
    if (auto r = read_record(fd.get())) {
      restored += restore_record(*r, name.substr(0, name.find('-')), reporter) ? 1 : 0;
    }
    ::unlinkat(dir, name.c_str(), 0);
  }
  ::closedir(d);
  return restored;
}

}  // namespace pkgunify
