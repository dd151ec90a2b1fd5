#include "store/store.hpp"

#include "sys/exceptions.hpp"
#include "sys/fs.hpp"
#include "sys/read.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

namespace pkgunify {

namespace {
// STORE/format is one line.
constexpr std::size_t k_max_format_size = 4096;
}  // namespace

namespace {

const char* const k_hex = "0123456789abcdef";

std::string
fanout_dir_name(unsigned i)
{
  return {k_hex[i >> 4], k_hex[i & 15]};
}

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

std::vector<std::string>
list_dir(int dirfd, const std::string& display)
{
  const int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) {
    throw Error(sys::sys_error("open", display).message);
  }
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    ::close(dup);
    throw Error(sys::sys_error("open", display).message);
  }
  std::vector<std::string> out;
  while (const dirent* de = ::readdir(dir)) {
    const std::string_view n = de->d_name;
    if (n != "." && n != "..") {
      out.emplace_back(n);
    }
  }
  ::closedir(dir);
  return out;
}

}  // namespace

Store
Store::open(const std::string& path, bool create)
{
  if (path.empty() || path.front() != '/') {
    throw ConfigError("store path must be absolute: " + path);
  }
  Store s;
  s.m_path = path;
  while (s.m_path.size() > 1 && s.m_path.back() == '/') {
    s.m_path.pop_back();
  }

  if (create) {
    std::error_code ec;
    const auto parent = std::filesystem::path(s.m_path).parent_path();
    std::filesystem::create_directories(parent, ec);
    if (::mkdir(s.m_path.c_str(), 0700) != 0 && errno != EEXIST) {
      throw ConfigError(sys::sys_error("cannot create store", s.m_path).message);
    }
  }
  const int fd = ::open(s.m_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      throw ConfigError("no store at " + s.m_path);
    }
    throw ConfigError(sys::sys_error("cannot open store", s.m_path).message);
  }
  s.m_fd = sys::Fd(fd);
  s.m_st = or_config_error(sys::fstat_fd(fd, s.m_path));

  const std::string format_display = s.m_path + "/format";
  auto format = sys::read_small_file_at(fd, "format", k_max_format_size, format_display);
  if (format) {
    if (*format != format_line()) {
      std::string first = format->substr(0, format->find('\n'));
      throw ConfigError(format_display + ": unsupported store format '" + first + "' (this pkgunify reads '"
                        + format_line().substr(0, format_line().size() - 1) + "')");
    }
  } else if (format.error().code != ENOENT) {
    throw ConfigError(format.error().message);
  } else {
    // No format file: an empty directory becomes a store; anything else is
    // refused, so that a typo never scribbles into a foreign directory.
    for (const auto& name : list_dir(fd, s.m_path)) {
      if (!is_store_entry(name)) {
        throw ConfigError(s.m_path + ": not a pkgunify store (it has no format file and contains '" + name + "')");
      }
    }
    if (!create) {
      throw ConfigError("no store at " + s.m_path + " (no format file)");
    }
  }

  or_config_error(sys::ensure_dir_at(fd, "objects", 0700, s.m_path + "/objects"));
  or_config_error(sys::ensure_dir_at(fd, "tmp", 0700, s.m_path + "/tmp"));
  or_config_error(sys::ensure_dir_at(fd, "quarantine", 0700, s.m_path + "/quarantine"));
  sys::Fd objects = or_config_error(sys::open_beneath(fd, "objects", O_RDONLY | O_DIRECTORY, s.m_path + "/objects"));
  for (unsigned i = 0; i < 256; ++i) {
    const std::string name = fanout_dir_name(i);
    const std::string display = s.m_path + "/objects/" + name;
    if (create && !format) {  // an existing store has its fan-out already
      or_config_error(sys::ensure_dir_at(objects.get(), name, 0700, display));
    }
    s.m_fanout[i] = or_config_error(sys::open_beneath(objects.get(), name, O_RDONLY | O_DIRECTORY, display));
  }
  s.m_tmp = or_config_error(sys::open_beneath(fd, "tmp", O_RDONLY | O_DIRECTORY, s.m_path + "/tmp"));
  s.m_quarantine =
    or_config_error(sys::open_beneath(fd, "quarantine", O_RDONLY | O_DIRECTORY, s.m_path + "/quarantine"));

  if (!format) {
    or_config_error(sys::write_file_atomic(fd, "format", format_line(), 0644, format_display));
  }
  return s;
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
  return m_path + "/objects/" + fanout_dir_name(fanout) + "/" + name;
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
  const std::string hex = fanout_dir_name(fanout) + std::string(name.substr(0, 62));
  if (!from_hex(hex, d)) {
    return false;
  }
  id = ObjectId(d);
  return true;
}

sys::Result<sys::FileLock>
Store::lock_fanout(unsigned index, sys::FileLock::Mode mode) const
{
  return sys::FileLock::acquire(m_fanout[index].get(), mode, m_path + "/objects/" + fanout_dir_name(index));
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
Store::open_object(const ObjectId& id, unsigned successor) const
{
  const int fd = ::openat(m_fanout[id.fanout()].get(), object_name(id, successor).c_str(),
                          O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME);
  if (fd < 0) {
    return sys::fail_sys("open", object_path(id, successor));
  }
  return sys::Fd(fd);
}

void
Store::for_each_entry(unsigned fanout, const std::function<void(const std::string&)>& fn) const
{
  for (const auto& name : list_dir(m_fanout[fanout].get(), m_path + "/objects/" + fanout_dir_name(fanout))) {
    fn(name);
  }
}

std::unordered_set<ino_t>
Store::object_inodes() const
{
  std::unordered_set<ino_t> out;
  for_each_dirent([&](unsigned, const char*, ino_t ino) { out.insert(ino); });
  return out;
}

void
Store::for_each_dirent(const std::function<void(unsigned, const char*, ino_t)>& fn) const
{
  if (!exists()) {
    return;
  }
  for (unsigned i = 0; i < 256; ++i) {
    const int dup = ::openat(m_fanout[i].get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup < 0) {
      continue;
    }
    DIR* dir = ::fdopendir(dup);
    if (!dir) {
      ::close(dup);
      continue;
    }
    while (const dirent* de = ::readdir(dir)) {
      if (de->d_name[0] != '.') {
        fn(i, de->d_name, de->d_ino);
      }
    }
    ::closedir(dir);
  }
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
