// SPDX-License-Identifier: GPL-2.0-or-later
#include "harness.hpp"

#include "store/identity.hpp"
#include "sys/xattr.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace pkgunify::itest {

namespace {

[[noreturn]] void
throw_sys(const std::string& what, const std::string& path)
{
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

std::int64_t
to_ns(const struct timespec& ts)
{
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string
parent_of(const std::string& path)
{
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

char
type_char(mode_t mode)
{
  if (S_ISREG(mode)) {
    return 'f';
  }
  if (S_ISDIR(mode)) {
    return 'd';
  }
  if (S_ISLNK(mode)) {
    return 'l';
  }
  if (S_ISFIFO(mode)) {
    return 'p';
  }
  if (S_ISCHR(mode)) {
    return 'c';
  }
  if (S_ISBLK(mode)) {
    return 'b';
  }
  if (S_ISSOCK(mode)) {
    return 's';
  }
  return '?';
}

std::string
printable(const std::string& bytes, std::size_t max = 64)
{
  std::string out;
  for (std::size_t i = 0; i < bytes.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  if (bytes.size() > max) {
    out += "...";
  }
  return out;
}

std::string
describe_xattrs(const XattrMap& x)
{
  std::string out = "{";
  for (const auto& [k, v] : x) {
    out += k + "=" + printable(v) + " ";
  }
  return out + "}";
}

void
snapshot_into(const std::string& top, const std::string& rel, Snapshot& out)
{
  const std::string full = rel == "." ? top : top + "/" + rel;
  struct stat st;
  if (::lstat(full.c_str(), &st) != 0) {
    throw_sys("lstat", full);
  }
  Entry e;
  e.type = type_char(st.st_mode);
  e.ino = st.st_ino;
  e.nlink = st.st_nlink;
  e.mode = st.st_mode;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime_ns = to_ns(st.st_mtim);
  e.size = st.st_size;
  e.xattrs = list_xattrs(full);
  e.protection = protection_flags(full);
  if (S_ISREG(st.st_mode)) {
    e.content = read_file(full);
  } else if (S_ISLNK(st.st_mode)) {
    e.target = read_link(full);
  }
  out[rel] = e;
  if (S_ISDIR(st.st_mode)) {
    for (const auto& name : list_dir(full)) {
      snapshot_into(top, rel == "." ? name : rel + "/" + name, out);
    }
  }
}

void
find_temp_names_into(const std::string& top, const std::string& rel, std::vector<std::string>& out)
{
  const std::string full = rel.empty() ? top : top + "/" + rel;
  for (const auto& name : list_dir(full)) {
    const std::string child = rel.empty() ? name : rel + "/" + name;
    if ((name.starts_with(".#pku.") || name.starts_with(".#pkgunify."))) {
      out.push_back(child);
    }
    struct stat st;
    if (::lstat((top + "/" + child).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      find_temp_names_into(top, child, out);
    }
  }
}

std::string
quote_args(const std::vector<std::string>& args)
{
  std::string out;
  for (const auto& a : args) {
    if (!out.empty()) {
      out += ' ';
    }
    out += a == PKGUNIFY_BINARY ? std::string("pkgunify") : a;
  }
  return out;
}

}  // namespace

// ---- Files ---------------------------------------------------------------

FileSpec
sized_spec(std::size_t size, const std::string& seed)
{
  FileSpec spec;
  spec.content.reserve(size);
  std::uint32_t x = 2166136261u;
  for (const char c : seed) {
    x = (x ^ static_cast<unsigned char>(c)) * 16777619u;
  }
  for (std::size_t i = 0; i < size; ++i) {
    x = x * 1103515245u + 12345u;
    spec.content += static_cast<char>('a' + (x >> 16) % 26);
  }
  return spec;
}

void
make_dirs(const std::string& path, mode_t mode)
{
  if (path.empty() || path == "/") {
    return;
  }
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      throw std::runtime_error(path + ": exists and is no directory");
    }
    return;
  }
  make_dirs(parent_of(path), mode);
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    throw_sys("mkdir", path);
  }
}

void
write_file(const std::string& path, const FileSpec& spec)
{
  make_dirs(parent_of(path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw_sys("remove", path);
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    throw_sys("create", path);
  }
  auto fail = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    errno = err;
    throw_sys(what, path);
  };
  std::size_t done = 0;
  while (done < spec.content.size()) {
    const ssize_t n = ::write(fd, spec.content.data() + done, spec.content.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (spec.uid || spec.gid) {
    if (::fchown(fd, spec.uid ? *spec.uid : static_cast<uid_t>(-1), spec.gid ? *spec.gid : static_cast<gid_t>(-1))
        != 0) {
      fail("chown");
    }
  }
  for (const auto& [name, value] : spec.xattrs) {
    if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0) {
      fail("setxattr " + name + " on");
    }
  }
  if (::fchmod(fd, spec.mode) != 0) {
    fail("chmod");
  }
  const struct timespec times[2] = {{0, UTIME_NOW}, spec.mtime};
  if (::futimens(fd, times) != 0) {
    fail("set mtime of");
  }
  if (::close(fd) != 0) {
    throw_sys("close", path);
  }
}

void
replace_file(const std::string& path, const FileSpec& spec)
{
  const std::string tmp = parent_of(path) + "/.itest-replace.tmp";
  write_file(tmp, spec);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    throw_sys("rename over", path);
  }
}

void
make_symlink(const std::string& target, const std::string& path)
{
  make_dirs(parent_of(path));
  if (::symlink(target.c_str(), path.c_str()) != 0) {
    throw_sys("symlink", path);
  }
}

std::string
read_file(const std::string& path)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    throw_sys("open", path);
  }
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      ::close(fd);
      errno = err;
      throw_sys("read", path);
    }
    if (n == 0) {
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

void
write_text(const std::string& path, const std::string& text)
{
  FileSpec spec;
  spec.content = text;
  write_file(path, spec);
}

bool
exists(const std::string& path)
{
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

FileStat
stat_path(const std::string& path)
{
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    throw_sys("lstat", path);
  }
  FileStat out;
  out.dev = st.st_dev;
  out.ino = st.st_ino;
  out.nlink = st.st_nlink;
  out.mode = st.st_mode;
  out.uid = st.st_uid;
  out.gid = st.st_gid;
  out.mtime_ns = to_ns(st.st_mtim);
  out.size = st.st_size;
  return out;
}

XattrMap
list_xattrs(const std::string& path)
{
  XattrMap out;
  std::string names;
  for (;;) {
    const ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
    if (len < 0) {
      if (errno == ENOTSUP) {
        return out;
      }
      throw_sys("llistxattr", path);
    }
    names.resize(static_cast<std::size_t>(len));
    const ssize_t got = ::llistxattr(path.c_str(), names.data(), names.size());
    if (got >= 0) {
      names.resize(static_cast<std::size_t>(got));
      break;
    }
    if (errno != ERANGE) {
      throw_sys("llistxattr", path);
    }
  }
  std::size_t pos = 0;
  while (pos < names.size()) {
    const auto end = names.find('\0', pos);
    const std::string name = names.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? names.size() : end + 1;
    if (name.empty()) {
      continue;
    }
    const ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vlen < 0) {
      throw_sys("lgetxattr " + name, path);
    }
    std::string value(static_cast<std::size_t>(vlen), '\0');
    const ssize_t got = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (got < 0) {
      throw_sys("lgetxattr " + name, path);
    }
    value.resize(static_cast<std::size_t>(got));
    out[name] = value;
  }
  return out;
}

std::string
read_link(const std::string& path)
{
  std::string buf(4096, '\0');
  const ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
  if (n < 0) {
    throw_sys("readlink", path);
  }
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

namespace {

constexpr unsigned k_protection_mask = FS_IMMUTABLE_FL | FS_APPEND_FL;

// An fd for the flag ioctls: regular files and directories only.
int
open_for_flags(const std::string& path)
{
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
    return -1;
  }
  return ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}

}  // namespace

unsigned
protection_flags(const std::string& path)
{
  const int fd = open_for_flags(path);
  if (fd < 0) {
    return 0;
  }
  int flags = 0;
  const bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  ::close(fd);
  return ok ? static_cast<unsigned>(flags) & k_protection_mask : 0;
}

bool
has_immutable_flag(const std::string& path)
{
  return (protection_flags(path) & FS_IMMUTABLE_FL) != 0;
}

void
set_immutable_flag(const std::string& path, bool on)
{
  const int fd = open_for_flags(path);
  if (fd < 0) {
    throw_sys("open", path);
  }
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    throw_sys("get inode flags of", path);
  }
  flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
  if (::ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) {
    const int err = errno;
    ::close(fd);
    errno = err;
    throw_sys("set inode flags of", path);
  }
  ::close(fd);
}

void
with_protection_lifted(const std::string& path, const std::function<void()>& fn)
{
  const bool was = has_immutable_flag(path);
  if (was) {
    set_immutable_flag(path, false);
  }
  fn();
  if (was) {
    set_immutable_flag(path, true);
  }
}

void
clear_protection(const std::string& top)
{
  const int fd = open_for_flags(top);
  if (fd < 0) {
    return;
  }
  int flags = 0;
  if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (static_cast<unsigned>(flags) & k_protection_mask)) {
    flags = static_cast<int>(static_cast<unsigned>(flags) & ~k_protection_mask);
    ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  struct stat st;
  const bool dir = ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (dir) {
    std::vector<std::string> names;
    try {
      names = list_dir(top);
    } catch (const std::exception&) {
      return;
    }
    for (const auto& name : names) {
      clear_protection(top + "/" + name);
    }
  }
}

// ---- Snapshots ---------------------------------------------------------------

Snapshot
snapshot(const std::string& top)
{
  Snapshot out;
  snapshot_into(top, ".", out);
  return out;
}

std::vector<std::string>
diff_snapshots(const Snapshot& before, const Snapshot& after, const CompareOptions& options)
{
  std::vector<std::string> out;
  for (const auto& [rel, a] : before) {
    const auto it = after.find(rel);
    if (it == after.end()) {
      out.push_back(rel + ": disappeared");
      continue;
    }
    const Entry& b = it->second;
    auto differs = [&](const std::string& what, const auto& x, const auto& y) {
      if (!(x == y)) {
        std::ostringstream s;
        s << rel << ": " << what << " changed from " << x << " to " << y;
        out.push_back(s.str());
      }
    };
    if (a.type != b.type) {
      out.push_back(rel + ": type changed from " + a.type + " to " + b.type);
      continue;
    }
    if (options.inodes) {
      differs("inode", a.ino, b.ino);
      if (a.type != 'd') {
        differs("link count", a.nlink, b.nlink);
      }
    }
    differs("mode", a.mode, b.mode);
    differs("uid", a.uid, b.uid);
    differs("gid", a.gid, b.gid);
    if (a.type != 'd' || options.dir_mtime) {
      differs("mtime (ns)", a.mtime_ns, b.mtime_ns);
    }
    if (a.type != 'd') {
      differs("size", a.size, b.size);
    }
    if (a.content != b.content) {
      out.push_back(rel + ": content changed from '" + printable(a.content) + "' to '" + printable(b.content) + "'");
    }
    differs("symlink target", a.target, b.target);
    if (options.protection) {
      differs("protection flags", a.protection, b.protection);
    }
    if (a.xattrs != b.xattrs) {
      out.push_back(rel + ": xattrs changed from " + describe_xattrs(a.xattrs) + " to " + describe_xattrs(b.xattrs));
    }
  }
  for (const auto& [rel, b] : after) {
    if (!before.contains(rel)) {
      out.push_back(rel + ": appeared");
    }
  }
  return out;
}

std::string
join_lines(const std::vector<std::string>& lines)
{
  std::string out;
  for (const auto& l : lines) {
    out += "  ";
    out += l;
    out += '\n';
  }
  return out;
}

// ---- Store ---------------------------------------------------------------------

std::vector<std::string>
list_dir(const std::string& path)
{
  std::vector<std::string> out;
  DIR* d = ::opendir(path.c_str());
  if (!d) {
    if (errno == ENOENT) {
      return out;
    }
    throw_sys("opendir", path);
  }
  while (const dirent* de = ::readdir(d)) {
    const std::string name = de->d_name;
    if (name != "." && name != "..") {
      out.push_back(name);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<ObjectInfo>
store_objects(const std::string& store)
{
  std::vector<ObjectInfo> out;
  const std::string objects = store + "/objects";
  for (const auto& fan : list_dir(objects)) {
    for (const auto& name : list_dir(objects + "/" + fan)) {
      ObjectInfo o;
      o.path = objects + "/" + fan + "/" + name;
      o.name = fan + "/" + name;
      const FileStat st = stat_path(o.path);
      o.ino = st.ino;
      o.nlink = st.nlink;
      o.size = st.size;
      o.mode = st.mode;
      out.push_back(o);
    }
  }
  return out;
}

std::optional<ObjectInfo>
object_with_inode(const std::string& store, ino_t ino)
{
  for (const auto& o : store_objects(store)) {
    if (o.ino == ino) {
      return o;
    }
  }
  return std::nullopt;
}

std::string
expected_object_name(const std::string& path)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    throw_sys("open", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw_sys("fstat", path);
  }
  auto xattrs = sys::read_xattrs(fd, path);
  ::close(fd);
  if (!xattrs) {
    throw std::runtime_error(xattrs.error().message);
  }
  const FileMeta meta = FileMeta::from_stat(st, std::move(*xattrs));
  IdentityHasher hasher;
  hasher.start(meta, IdentityKind::full);
  const std::string content = read_file(path);
  hasher.update(content.data(), content.size());
  const std::string hex = hasher.finish().hex();
  return hex.substr(0, 2) + "/" + hex.substr(2);
}

std::vector<std::string>
find_temp_names(const std::string& top)
{
  std::vector<std::string> out;
  find_temp_names_into(top, "", out);
  return out;
}

// ---- Running pkgunify -------------------------------------------------------------

Json
RunResult::json() const
{
  try {
    return Json::parse(out);
  } catch (const Json::exception& e) {
    throw std::runtime_error(std::string("stdout is no JSON (") + e.what() + ")\n" + describe());
  }
}

std::string
RunResult::describe() const
{
  std::ostringstream s;
  s << "$ " << quote_args(args) << "\n";
  if (timed_out) {
    s << "-> timed out and killed\n";
  } else if (exit_code < 0) {
    s << "-> killed by signal " << term_signal << "\n";
  } else {
    s << "-> exit status " << exit_code << "\n";
  }
  s << "stdout:\n" << out << "stderr:\n" << err;
  return s.str();
}

RunResult
run_pkgunify(const std::vector<std::string>& args, int timeout_s)
{
  std::vector<std::string> argv{PKGUNIFY_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout_s);
}

pid_t
spawn_command(const std::vector<std::string>& args, int out_fd, int err_fd)
{
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  std::vector<std::string> argv_store = args;
  std::vector<char*> argv;
  for (auto& a : argv_store) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawnp(&pid, argv_store[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    errno = rc;
    throw_sys("spawn", args[0]);
  }
  return pid;
}

RunResult
run_command(const std::vector<std::string>& args, int timeout_s)
{
  if (args.empty()) {
    throw std::invalid_argument("run_command: no program");
  }
  RunResult r;
  r.args = args;
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw_sys("pipe", "stdout");
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw_sys("pipe", "stderr");
  }
  pid_t pid = 0;
  try {
    pid = spawn_command(args, out_pipe[1], err_pipe[1]);
  } catch (...) {
    for (const int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      ::close(fd);
    }
    throw;
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  struct pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      ::kill(pid, SIGKILL);
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      const ssize_t got = ::read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) {
      ::close(f.fd);
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.exit_code = -1;
    r.term_signal = WTERMSIG(status);
  }
  return r;
}

std::int64_t
counter(const Json& j, const std::string& key)
{
  if (!j.contains(key) || !j.at(key).is_number_integer()) {
    throw std::runtime_error("JSON has no integer '" + key + "': " + j.dump());
  }
  return j.at(key).get<std::int64_t>();
}

std::int64_t
skipped(const Json& j, const std::string& reason)
{
  if (!j.contains("skipped") || !j.at("skipped").is_object()) {
    throw std::runtime_error("JSON has no 'skipped' object: " + j.dump());
  }
  const auto& s = j.at("skipped");
  return s.contains(reason) ? s.at(reason).get<std::int64_t>() : 0;
}

// ---- Fixture ---------------------------------------------------------------------

void
IntegrationTest::SetUp()
{
  std::string tmpl = "/tmp/pkgunify-itest.XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    throw_sys("mkdtemp", tmpl);
  }
  m_dir = tmpl;
}

void
IntegrationTest::TearDown()
{
  for (auto it = m_mounts.rbegin(); it != m_mounts.rend(); ++it) {
    if (::umount2(it->c_str(), 0) != 0) {
      ::umount2(it->c_str(), MNT_DETACH);
    }
  }
  m_mounts.clear();
  std::error_code ec;
  for (const auto& d : m_extra_dirs) {
    std::filesystem::remove_all(d, ec);
  }
  m_extra_dirs.clear();
  if (!m_dir.empty()) {
    std::filesystem::remove_all(m_dir, ec);
    if (ec) {
      // Unified files may be immutable (link mode immutable).
      clear_protection(m_dir);
      ec.clear();
      std::filesystem::remove_all(m_dir, ec);
    }
    if (ec) {
      ADD_FAILURE() << "cannot remove " << m_dir << ": " << ec.message();
    }
  }
}

std::string
IntegrationTest::guest_top(const std::string& type, std::string& top)
{
  top = tmp();
  if (type.empty()) {
    return {};
  }
  top = path("mnt");
  return mount_fs(type, top);
}

std::string
IntegrationTest::path(const std::string& rel) const
{
  return m_dir + "/" + rel;
}

void
IntegrationTest::write_in_roots(const std::vector<std::string>& roots, const std::string& rel, const FileSpec& spec)
{
  for (const auto& r : roots) {
    write_file(r + "/" + rel, spec);
  }
}

std::vector<std::string>
IntegrationTest::make_roots(std::size_t n, const std::string& prefix) const
{
  std::vector<std::string> out;
  for (std::size_t i = 1; i <= n; ++i) {
    out.push_back(path(prefix + std::to_string(i)));
    make_dirs(out.back());
  }
  return out;
}

RunResult
IntegrationTest::scan(const std::vector<std::string>& roots, const std::vector<std::string>& extra,
                      const std::string& store_path) const
{
  std::vector<std::string> args{"scan", "--json", "--store", store_path.empty() ? store() : store_path};
  const auto link = link_args();
  args.insert(args.end(), link.begin(), link.end());
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), roots.begin(), roots.end());
  return run_pkgunify(args);
}

Json
IntegrationTest::scan_ok(const std::vector<std::string>& roots, const std::vector<std::string>& extra,
                         const std::string& store_path) const
{
  const RunResult r = scan(roots, extra, store_path);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  if (r.exit_code != 0) {
    throw std::runtime_error("scan failed:\n" + r.describe());
  }
  return r.json();
}

RunResult
IntegrationTest::store_cmd(const std::string& action, const std::vector<std::string>& extra) const
{
  std::vector<std::string> args{"store", action, "--json", "--store", store()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_pkgunify(args);
}

std::vector<std::string>
IntegrationTest::link_args() const
{
  if (m_link_mode.empty()) {
    return {};
  }
  return {"--link", m_link_mode};
}

void
IntegrationTest::make_replaceable(const std::string& guest_path)
{
  if (!has_immutable_flag(guest_path)) {
    return;
  }
  const RunResult r = run_pkgunify({"release", guest_path});
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  if (r.exit_code != 0 || has_immutable_flag(guest_path)) {
    throw std::runtime_error("cannot release " + guest_path + "\n" + r.describe());
  }
}

bool
IntegrationTest::mount_tmpfs(const std::string& dir, const std::string& options)
{
  make_dirs(dir);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
    return false;
  }
  m_mounts.push_back(dir);
  return true;
}

bool
IntegrationTest::mount_ram_ext4(const std::string& dir, unsigned size_mib, unsigned inodes)
{
  if (!is_root()) {
    return false;
  }
  const std::string image = shm_dir() + "/ext4.img";
  const int fd = ::open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return false;
  }
  const bool sized = ::ftruncate(fd, static_cast<off_t>(size_mib) << 20) == 0;
  ::close(fd);
  if (!sized) {
    return false;
  }
  // No journal (nothing to recover), small files inline in their inodes.
  const RunResult mkfs =
    run_command({"mkfs.ext4", "-q", "-F", "-O", "^has_journal,inline_data", "-N", std::to_string(inodes), image});
  if (mkfs.exit_code != 0) {
    return false;
  }
  make_dirs(dir);
  const RunResult mount = run_command({"mount", "-o", "loop", image, dir});
  if (mount.exit_code != 0) {
    return false;
  }
  m_mounts.push_back(dir);
  return true;
}

std::string
IntegrationTest::mount_fs(const std::string& type, const std::string& dir, unsigned size_mib)
{
  if (!is_root()) {
    return "loop mounts need root";
  }
  const std::string mkfs = "mkfs." + type;
  if (run_command({"sh", "-c", "command -v " + mkfs}).exit_code != 0) {
    return mkfs + " is not installed";
  }
  const std::string image = shm_dir() + "/" + type + ".img";
  const int fd = ::open(image.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return "cannot create " + image;
  }
  const bool sized = ::ftruncate(fd, static_cast<off_t>(size_mib) << 20) == 0;
  ::close(fd);
  if (!sized) {
    return "cannot size " + image;
  }
  std::vector<std::string> cmd{mkfs, "-q"};
  if (type == "xfs") {
    cmd.insert(cmd.end(), {"-f", "-m", "reflink=1"});
  } else if (type == "btrfs") {
    cmd.push_back("-f");
  } else {
    cmd.push_back("-F");
  }
  cmd.push_back(image);
  if (const RunResult r = run_command(cmd); r.exit_code != 0) {
    return mkfs + " failed: " + r.err;
  }
  make_dirs(dir);
  if (run_command({"mount", "-o", "loop", image, dir}).exit_code != 0) {
    return "cannot loop-mount a " + type + " image (no loop devices?)";
  }
  m_mounts.push_back(dir);
  return {};
}

std::string
IntegrationTest::shm_dir()
{
  std::string tmpl = "/dev/shm/pkgunify-itest.XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    throw_sys("mkdtemp", tmpl);
  }
  m_extra_dirs.push_back(tmpl);
  return tmpl;
}

void
PerLinkMode::SetUp()
{
  IntegrationTest::SetUp();
  if (GetParam() != "default") {
    set_link_mode(GetParam());
  }
}

bool
IntegrationTest::is_root()
{
  return ::geteuid() == 0;
}

}  // namespace pkgunify::itest
