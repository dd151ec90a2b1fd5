// SPDX-License-Identifier: GPL-2.0-or-later
#include "store/store.hpp"

#include "sys/exceptions.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string_view>
#include <vector>

namespace pkgunify {

namespace {

// STORE/format is one line.
constexpr std::size_t k_max_format_size = 4096;

std::string
format_line()
{
  return "pkgunify-store " + std::to_string(k_store_format) + "\n";
}

// Entries a store directory may hold.
bool
is_store_entry(const std::string& name)
{
  static const std::set<std::string> known = {"format", "objects", "tmp", "quarantine", "lock"};
  return known.contains(name) || name.starts_with(".format.tmp.");
}

template<typename T>
T
or_config_error(sys::Result<T> r)
{
  if (!r) {
    throw ConfigError(r.error().message);
  }
  if constexpr (!std::is_void_v<T>) {
    return std::move(*r);
  }
}

// Calls `fn(name, inode)` for each entry of directory `dirfd` but "." and
// "..", as readdir returns them. The one reader of store directories.
sys::Result<void>
read_dir(int dirfd, const std::string& display, const std::function<void(const char*, ino_t)>& fn)
{
  const int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) {
    return sys::fail_sys("open", display);
  }
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    const sys::Error error = sys::sys_error("open", display);
    ::close(dup);
    return std::unexpected(error);
  }
  while (const dirent* de = ::readdir(dir)) {
    const std::string_view name = de->d_name;
    if (name != "." && name != "..") {
      fn(de->d_name, de->d_ino);
    }
  }
  ::closedir(dir);
  return {};
}

// The names in directory `dirfd`, read before any is used. Throws Error.
std::vector<std::string>
list_dir(int dirfd, const std::string& display)
{
  std::vector<std::string> names;
  if (auto r = read_dir(dirfd, display, [&](const char* name, ino_t) { names.emplace_back(name); }); !r) {
    throw Error(r.error().message);
  }
  return names;
}

// The names in directory `dirfd` in the order of their inode numbers, read
// before any is used: the stat of each (stats, gc, fsck, unprotect) then
// reads the inode table in order, not at random; one fan-out directory of a
// store of 10 million objects holds about 40,000. Throws Error.
std::vector<std::string>
list_dir_by_inode(int dirfd, const std::string& display)
{
  std::vector<std::pair<ino_t, std::string>> entries;
  if (auto r = read_dir(dirfd, display, [&](const char* name, ino_t ino) { entries.emplace_back(ino, name); }); !r) {
    throw Error(r.error().message);
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (auto& e : entries) {
    names.push_back(std::move(e.second));
  }
  return names;
}

// The absolute `path` without trailing slashes.
std::string
store_path(const std::string& path)
{
  if (path.empty() || path.front() != '/') {
    throw ConfigError("store path must be absolute: " + path);
  }
  std::string out = path;
  while (out.size() > 1 && out.back() == '/') {
    out.pop_back();
  }
  return out;
}

// Makes the store directory (and its parent) unless it exists.
void
make_store_dir(const std::string& path)
{
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    throw ConfigError(sys::sys_error("cannot create store", path).message);
  }
}

sys::Fd
open_store_dir(const std::string& path)
{
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      throw ConfigError("no store at " + path);
    }
    throw ConfigError(sys::sys_error("cannot open store", path).message);
  }
  return sys::Fd(fd);
}

sys::Fd
open_subdir(int dirfd, const std::string& name, const std::string& display)
{
  return or_config_error(sys::open_beneath(dirfd, name, O_RDONLY | O_DIRECTORY, display));
}

}  // namespace

Store
Store::open(const std::string& path, Create how)
{
  const bool create = how == Create::if_missing;
  Store s;
  s.m_path = store_path(path);
  if (create) {
    make_store_dir(s.m_path);
  }
  s.m_fd = open_store_dir(s.m_path);
  s.m_st = or_config_error(sys::fstat_fd(s.m_fd.get(), s.m_path));
  const bool formatted = s.check_format(create);
  s.open_layout(formatted ? Fanout::find : Fanout::make);
  if (!formatted) {
    or_config_error(sys::write_file_atomic(s.m_fd.get(), "format", format_line(), 0644, s.m_path + "/format"));
  }
  return s;
}

// True when the store has its format file, false for a directory that is to
// become a store (`create`). Throws on another format, and on a directory
// that is no store.
bool
Store::check_format(bool create) const
{
  const std::string display = m_path + "/format";
  auto format = sys::read_small_file_at(m_fd.get(), "format", k_max_format_size, display);
  if (format) {
    if (*format != format_line()) {
      std::string first = format->substr(0, format->find('\n'));
      throw ConfigError(display + ": unsupported store format '" + first + "' (this pkgunify reads '"
                        + format_line().substr(0, format_line().size() - 1) + "')");
    }
    return true;
  }
  if (format.error().code != ENOENT) {
    throw ConfigError(format.error().message);
  }
  check_foreign();
  if (!create) {
    throw ConfigError("no store at " + m_path + " (no format file)");
  }
  return false;
}

// No format file: an empty directory becomes a store; anything else is
// refused, so that a typo never scribbles into a foreign directory.
void
Store::check_foreign() const
{
  for (const auto& name : list_dir(m_fd.get(), m_path)) {
    if (!is_store_entry(name)) {
      throw ConfigError(m_path + ": not a pkgunify store (it has no format file and contains '" + name + "')");
    }
  }
}

void
Store::open_layout(Fanout fanout)
{
  for (const char* name : {"objects", "tmp", "quarantine"}) {
    or_config_error(sys::ensure_dir_at(m_fd.get(), name, 0700, m_path + "/" + name));
  }
  const sys::Fd objects = open_subdir(m_fd.get(), "objects", m_path + "/objects");
  for (unsigned i = 0; i < 256; ++i) {
    const std::string name = fanout_name(i);
    if (fanout == Fanout::make) {  // an existing store has its fan-out already
      or_config_error(sys::ensure_dir_at(objects.get(), name, 0700, fanout_path(i)));
    }
    m_fanout[i] = open_subdir(objects.get(), name, fanout_path(i));
  }
  m_tmp = open_subdir(m_fd.get(), "tmp", m_path + "/tmp");
  m_quarantine = open_subdir(m_fd.get(), "quarantine", m_path + "/quarantine");
}

Store
Store::absent(const std::string& path)
{
  Store s;
  s.m_path = path;
  std::filesystem::path p(path);
  while (::stat(p.c_str(), &s.m_st) != 0) {
    if (!p.has_parent_path() || p == p.parent_path()) {
      throw ConfigError(sys::sys_error("stat", path).message);
    }
    p = p.parent_path();
  }
  s.m_st.st_ino = 0;  // not a directory any root can contain
  return s;
}

std::string
Store::default_location(const std::string& root)
{
  std::error_code ec;
  std::filesystem::path p = std::filesystem::canonical(root, ec);
  if (ec) {
    throw ConfigError("cannot resolve root " + root + ": " + ec.message());
  }
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) {
    throw ConfigError(sys::sys_error("stat", root).message);
  }
  while (p.has_parent_path() && p != p.root_path()) {
    struct stat pst;
    const auto parent = p.parent_path();
    if (::stat(parent.c_str(), &pst) != 0 || pst.st_dev != st.st_dev) {
      break;
    }
    p = parent;
  }
  return (p / k_default_store_name).string();
}

GuestRoot
Store::open_root(const std::string& path) const
{
  GuestRoot root = pkgunify::open_root(path);
  check_same_filesystem(root.st, path);
  return root;
}

void
Store::check_same_filesystem(const struct stat& root_st, const std::string& root) const
{
  if (root_st.st_dev != m_st.st_dev) {
    throw ConfigError("root " + root + " is on another filesystem than the store " + m_path
                      + " (hard links cannot cross filesystems; use a store on the same filesystem)");
  }
}

std::string
Store::object_name(const ObjectId& id, unsigned successor)
{
  std::string name = id.hex().substr(2);
  if (successor > 0) {
    name += '.';
    name += std::to_string(successor);
  }
  return name;
}

std::string
Store::object_path(const ObjectId& id, unsigned successor) const
{
  return object_path(id.fanout(), object_name(id, successor));
}

std::string
Store::object_path(unsigned fanout, const std::string& name) const
{
  return fanout_path(fanout) + "/" + name;
}

std::string
Store::fanout_name(unsigned fanout)
{
  static constexpr std::string_view hex = "0123456789abcdef";
  return {hex[fanout >> 4], hex[fanout & 15]};
}

std::string
Store::fanout_path(unsigned fanout) const
{
  return m_path + "/objects/" + fanout_name(fanout);
}

bool
Store::parse_object_name(unsigned fanout, std::string_view name, ObjectId& id, unsigned& successor)
{
  if (name.size() < 62) {
    return false;
  }
  successor = 0;
  if (name.size() > 62) {
    if (name[62] != '.' || name.size() == 63 || name.size() > 72) {
      return false;
    }
    unsigned long n = 0;
    for (const char c : name.substr(63)) {
      if (c < '0' || c > '9') {
        return false;
      }
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
    if (n == 0 || name[63] == '0' || n > UINT_MAX) {
      return false;
    }
    successor = static_cast<unsigned>(n);
  }
  Digest d;
  const std::string hex = fanout_name(fanout) + std::string(name.substr(0, 62));
  if (!from_hex(hex, d)) {
    return false;
  }
  id = ObjectId(d);
  return true;
}

sys::Result<sys::FileLock>
Store::lock_fanout(unsigned index, sys::FileLock::Mode mode) const
{
  return sys::FileLock::acquire(m_fanout[index].get(), mode, fanout_path(index));
}

sys::Result<sys::Fd>
Store::make_temp() const
{
  if (!exists()) {
    return sys::fail(m_path + ": the store does not exist yet", ENOENT);
  }
  const int fd = ::openat(m_tmp.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    return sys::fail_sys("create temporary file in", m_path + "/tmp");
  }
  return sys::Fd(fd);
}

sys::Result<bool>
Store::publish(int fd, const ObjectId& id, unsigned successor) const
{
  auto r = sys::link_fd_at(fd, m_fanout[id.fanout()].get(), object_name(id, successor), object_path(id, successor));
  if (r) {
    return true;
  }
  if (r.error().code == EEXIST) {
    return false;
  }
  return std::unexpected(r.error());
}

sys::Result<std::optional<struct stat>>
Store::stat_object(const ObjectId& id, unsigned successor) const
{
  if (!exists()) {
    return std::optional<struct stat>();
  }
  struct stat st;
  if (::fstatat(m_fanout[id.fanout()].get(), object_name(id, successor).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    return st;
  }
  if (errno == ENOENT) {
    return std::optional<struct stat>();
  }
  return sys::fail_sys("stat", object_path(id, successor));
}

sys::Result<sys::Fd>
Store::open_object(const ObjectId& id, unsigned successor, Atime atime) const
{
  const int fd = ::openat(m_fanout[id.fanout()].get(), object_name(id, successor).c_str(),
                          O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (atime == Atime::keep ? O_NOATIME : 0));
  if (fd < 0) {
    return sys::fail_sys("open", object_path(id, successor));
  }
  return sys::Fd(fd);
}

void
Store::for_each_object(unsigned fanout, const ObjectFn& object, const StrayFn& stray) const
{
  for (const auto& name : list_dir_by_inode(m_fanout[fanout].get(), fanout_path(fanout))) {
    ObjectId id;
    unsigned successor = 0;
    if (parse_object_name(fanout, name, id, successor)) {
      object(name, id, successor);
    } else if (stray) {
      stray(name);
    }
  }
}

void
Store::for_each_indexed(const std::function<void(unsigned, const char*, ino_t)>& fn) const
{
  if (!exists()) {
    return;
  }
  for (unsigned i = 0; i < 256; ++i) {
    (void)read_dir(m_fanout[i].get(), fanout_path(i), [&](const char* name, ino_t ino) {
      if (name[0] != '.') {
        fn(i, name, ino);
      }
    });
  }
}

InodeSet
Store::object_inodes() const
{
  InodeSet::Builder out;
  for_each_indexed([&](unsigned, const char*, ino_t ino) { out.add(ino); });
  return out.finish();
}

std::uint64_t
Store::index_bytes() const
{
  if (!exists()) {
    return 0;
  }
  std::uint64_t total = 0;
  for (const auto& fd : m_fanout) {
    struct stat st;
    if (fd && ::fstat(fd.get(), &st) == 0) {
      total += std::max<std::uint64_t>(static_cast<std::uint64_t>(st.st_size), 4096);
    }
  }
  return total;
}

std::unordered_map<ino_t, std::string>
Store::object_paths_by_inode() const
{
  std::unordered_map<ino_t, std::string> out;
  for_each_indexed([&](unsigned fanout, const char* name, ino_t ino) { out.emplace(ino, object_path(fanout, name)); });
  return out;
}

sys::Result<void>
Store::remove_object(const ObjectId& id, unsigned successor) const
{
  if (::unlinkat(m_fanout[id.fanout()].get(), object_name(id, successor).c_str(), 0) != 0) {
    return sys::fail_sys("remove", object_path(id, successor));
  }
  return {};
}

sys::Result<std::string>
Store::quarantine(const ObjectId& id, unsigned successor) const
{
  const std::string name = object_name(id, successor);
  const std::string qname = fanout_name(id.fanout()) + name + "." + sys::random_hex(4);
  if (::renameat(m_fanout[id.fanout()].get(), name.c_str(), m_quarantine.get(), qname.c_str()) != 0) {
    return sys::fail_sys("quarantine", object_path(id, successor));
  }
  return m_path + "/quarantine/" + qname;
}

sys::Result<void>
Store::sync() const
{
  if (::syncfs(m_fd.get()) != 0) {
    return sys::fail_sys("sync filesystem of", m_path);
  }
  return {};
}

}  // namespace pkgunify
