// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/guests.hpp"

#include "engine/internal/yaml_doc.hpp"
#include "engine/policy.hpp"
#include "engine/session.hpp"
#include "guest/runtime.hpp"
#include "sys/exceptions.hpp"
#include "sys/fd.hpp"
#include "sys/fs.hpp"
#include "sys/lock.hpp"
#include "sys/read.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <utility>

namespace pkgunify {

namespace {

constexpr std::string_view k_suffix = ".yaml";
constexpr std::size_t k_max_guest_file_size = 64 << 10;
constexpr std::chrono::seconds k_registry_lock_timeout{10};

std::string
base_name(const std::string& path)
{
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "/srv/g/" -> "/srv/g" ("/" stays "/").
std::string
without_trailing_slashes(std::string path)
{
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
  }
  return path;
}

// The value of "root:" or "policy:": an absolute path.
std::string
path_value(const YAML::Node& key, const YAML::Node& value, std::string_view source)
{
  const std::string& name = key.Scalar();
  const YAML::Mark mark = value.IsNull() ? key.Mark() : value.Mark();
  if (!value.IsScalar() || value.Scalar().empty() || value.Scalar().front() != '/') {
    throw ConfigError(yaml::located(source, mark, name + ": expected an absolute path, got " + yaml::describe(value)));
  }
  if (value.Scalar().find('\0') != std::string::npos) {
    throw ConfigError(yaml::located(source, mark, name + ": a path cannot hold a NUL byte"));
  }
  return without_trailing_slashes(value.Scalar());
}

void
apply_guest_keys(GuestEntry& g, const YAML::Node& map, std::string_view source)
{
  yaml::SeenKeys seen;
  for (const auto& entry : map) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      throw ConfigError(yaml::located(source, key.Mark(), "expected a key name, got " + yaml::describe(key)));
    }
    yaml::check_not_seen(seen, key, source);
    if (key.Scalar() == "root") {
      g.root = path_value(key, entry.second, source);
    } else if (key.Scalar() == "policy") {
      g.policy = path_value(key, entry.second, source);
    } else {
      throw ConfigError(
        yaml::located(source, key.Mark(), "unknown key '" + key.Scalar() + "' (a guest file has root: and policy:)"));
    }
  }
}

struct stat
stat_dir(const std::string& path, std::string_view what)
{
  struct stat st = {};
  if (::stat(path.c_str(), &st) != 0) {
    throw ConfigError(std::string(what) + " " + path + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw ConfigError(std::string(what) + " " + path + " is no directory");
  }
  return st;
}

bool
same_inode(const struct stat& a, const struct stat& b)
{
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The root of a guest: a directory, not the host's "/".
struct stat
guest_root_stat(const std::string& root)
{
  const struct stat st = stat_dir(root, "guest root");
  struct stat host = {};
  if (::stat("/", &host) == 0 && same_inode(st, host)) {
    throw ConfigError("guest root " + root + " is the host's root directory");
  }
  return st;
}

// The names of `dir` that end in ".yaml", sorted; nullopt when `dir` does
// not exist.
std::optional<std::vector<std::string>>
registry_files(const std::string& dir)
{
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) {
      return std::nullopt;
    }
    throw ConfigError("cannot read the guest registry " + dir + ": " + std::strerror(errno));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name.size() > k_suffix.size() && name.ends_with(k_suffix)) {
      names.emplace_back(name);
    }
  }
  const int error = errno;
  ::closedir(d);
  if (error != 0) {
    throw ConfigError("cannot read the guest registry " + dir + ": " + std::strerror(error));
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Opens (creating it 0755 when missing) the registry and locks it.
struct LockedDir
{
  sys::Fd fd;
  sys::FileLock lock;
};

LockedDir
lock_registry(const std::string& dir, bool create)
{
  std::error_code ec;
  if (create && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      throw ConfigError("cannot create the guest registry " + dir + ": " + ec.message());
    }
  }
  LockedDir out;
  out.fd = sys::Fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!out.fd) {
    throw ConfigError(sys::sys_error("open", dir).message);
  }
  auto lock = sys::FileLock::acquire_for(out.fd.get(), sys::FileLock::Mode::exclusive, "guest registry " + dir,
                                         k_registry_lock_timeout);
  if (!lock) {
    throw Error(lock.error().message);
  }
  out.lock = std::move(*lock);
  return out;
}

void
check_new_guest(const GuestEntry& g)
{
  if (!valid_guest_name(g.name)) {
    throw ConfigError("bad guest name '" + g.name
                      + "': up to 64 letters, digits, '_', '.' and '-', starting with a letter or digit");
  }
  if (g.root.empty() || g.root.front() != '/') {
    throw ConfigError("guest root must be an absolute path, got '" + g.root + "'");
  }
  if (!g.policy.empty() && g.policy.front() != '/') {
    throw ConfigError("guest policy must be an absolute path, got '" + g.policy + "'");
  }
  (void)guest_root_stat(g.root);
  if (!g.policy.empty()) {
    (void)load_policy(g.policy);
  }
}

// Refuses `g` when its name or root is in `dir` already.
void
check_not_registered(const std::string& dir, int dirfd, const GuestEntry& g)
{
  const std::string file = g.name + std::string(k_suffix);
  struct stat st = {};
  if (::fstatat(dirfd, file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    throw ConfigError("guest " + g.name + " is registered already (" + dir + "/" + file + ")");
  }
  const struct stat root = stat_dir(g.root, "guest root");
  for (const auto& other : load_guests(dir).guests) {
    struct stat ost = {};
    if (other.root == g.root || (::stat(other.root.c_str(), &ost) == 0 && same_inode(ost, root))) {
      throw ConfigError("guest root " + g.root + " is registered already, as guest " + other.name + " (" + other.file
                        + ")");
    }
  }
}

std::string
guest_file_text(const GuestEntry& g)
{
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "root" << YAML::Value << g.root;
  if (!g.policy.empty()) {
    out << YAML::Key << "policy" << YAML::Value << g.policy;
  }
  out << YAML::EndMap;
  return "# The guest " + g.name + " of pkgunify (pkgunify guest add; see pkgunify(8)).\n" + out.c_str() + "\n";
}

// Writes `text` as dirfd/`name`, never replacing a file of that name.
void
write_new_file(int dirfd, const std::string& name, const std::string& text, const std::string& display)
{
  const std::string tmp = "." + name + ".tmp." + sys::random_hex(6);
  sys::Fd fd(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) {
    throw Error(sys::sys_error("create", display).message);
  }
  auto ok = sys::write_all(fd.get(), text.data(), text.size(), display);
  if (ok && ::fsync(fd.get()) != 0) {
    ok = sys::fail_sys("fsync", display);
  }
  // A link instead of a rename: it fails rather than replace a file that
  // appeared meanwhile (RENAME_NOREPLACE is not on every filesystem).
  if (ok && ::linkat(dirfd, tmp.c_str(), dirfd, name.c_str(), 0) != 0) {
    ok = sys::fail_sys("create", display);
  }
  ::unlinkat(dirfd, tmp.c_str(), 0);
  if (!ok) {
    throw Error(ok.error().message);
  }
  ::fsync(dirfd);
}

}  // namespace

std::string
guests_dir()
{
  const char* env = std::getenv("PKGUNIFY_GUESTS_DIR");
  return (env != nullptr && *env != '\0') ? std::string(env) : std::string(k_default_guests_dir);
}

bool
valid_guest_name(std::string_view name)
{
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 64 || !alnum(name.front())) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

GuestEntry
parse_guest_file(std::string_view text, const std::string& path)
{
  GuestEntry g;
  g.file = path;
  const std::string base = base_name(path);
  g.name = base.ends_with(k_suffix) ? base.substr(0, base.size() - k_suffix.size()) : std::string();
  if (!valid_guest_name(g.name)) {
    throw ConfigError(path + ": '" + base
                      + "' names no guest (NAME.yaml: up to 64 letters, digits, '_', '.' and '-', starting with a "
                        "letter or digit)");
  }
  const std::optional<YAML::Node> document = yaml::read_document(text, path);
  if (document && !document->IsNull()) {
    if (!document->IsMap()) {
      throw ConfigError(
        yaml::located(path, document->Mark(), "expected a mapping of keys, got " + yaml::describe(*document)));
    }
    apply_guest_keys(g, *document, path);
  }
  if (g.root.empty()) {
    throw ConfigError(path + ": no 'root:' (the guest's root directory)");
  }
  return g;
}

GuestEntry
load_guest_file(const std::string& path)
{
  // O_NONBLOCK: a FIFO put there is not waited for (read_small_file refuses it).
  sys::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    throw ConfigError(path + ": cannot read guest file: " + std::strerror(errno));
  }
  auto text = sys::read_small_file(fd.get(), k_max_guest_file_size, path);
  if (!text) {
    throw ConfigError(text.error().message);
  }
  return parse_guest_file(*text, path);
}

GuestRegistry
load_guests(const std::string& dir)
{
  GuestRegistry out;
  const auto names = registry_files(dir);
  if (!names) {
    return out;
  }
  for (const auto& name : *names) {
    try {
      out.guests.push_back(load_guest_file(sys::child_path(dir, name)));
    } catch (const ConfigError& e) {
      out.errors.emplace_back(e.what());
    }
  }
  return out;
}

void
add_guest(const std::string& dir, const GuestEntry& given)
{
  GuestEntry g = given;
  g.root = without_trailing_slashes(g.root);
  g.policy = without_trailing_slashes(g.policy);
  check_new_guest(g);
  const LockedDir registry = lock_registry(dir, true);
  check_not_registered(dir, registry.fd.get(), g);
  const std::string name = g.name + std::string(k_suffix);
  write_new_file(registry.fd.get(), name, guest_file_text(g), sys::child_path(dir, name));
}

bool
remove_guest(const std::string& dir, const std::string& name)
{
  if (!valid_guest_name(name)) {
    throw ConfigError("bad guest name '" + name + "'");
  }
  if (!registry_files(dir)) {
    return false;
  }
  const LockedDir registry = lock_registry(dir, false);
  const std::string file = name + std::string(k_suffix);
  if (::unlinkat(registry.fd.get(), file.c_str(), 0) != 0) {
    if (errno == ENOENT) {
      return false;
    }
    throw Error(sys::sys_error("remove", sys::child_path(dir, file)).message);
  }
  ::fsync(registry.fd.get());
  return true;
}

std::string
guest_agent_socket(const std::string& name)
{
  return runtime_dir_path() + "/guests/" + name + "/agent.sock";
}

namespace {

// True when `path` is `top` or lies below it.
bool
lies_in(const std::string& path, const std::string& top)
{
  return path == top || (path.starts_with(top) && (top.back() == '/' || path[top.size()] == '/'));
}

// The guest whose root holds `store` (both canonical), if any.
const std::pair<std::string, std::string>*
guest_holding(const std::string& store, const std::vector<std::pair<std::string, std::string>>& roots)
{
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(store, ec);
  const std::string path = ec ? store : canonical.string();
  const auto it = std::find_if(roots.begin(), roots.end(), [&](const auto& r) { return lies_in(path, r.second); });
  return it == roots.end() ? nullptr : &*it;
}

// Leaves out the groups whose store lies inside a guest's root, where that
// guest could reach it; `all` are every guest's (name, canonical root).
void
drop_reachable_stores(GuestGroups& out, const std::vector<std::pair<std::string, std::string>>& all)
{
  std::erase_if(out.groups, [&](const GuestGroup& group) {
    const auto* holder = guest_holding(group.store, all);
    if (holder == nullptr) {
      return false;
    }
    for (const auto& g : group.guests) {
      out.errors.push_back(
        {g.name, "guest " + g.name + ": its store " + group.store + " would lie inside the root of guest "
                   + holder->first + " (" + holder->second
                   + "), in that guest's reach; set 'store:' in the policy to a directory on the same "
                     "filesystem outside every guest"});
    }
    return true;
  });
}

}  // namespace

std::vector<std::string>
guest_roots(const GuestGroup& group)
{
  std::vector<std::string> roots;
  for (const auto& g : group.guests) {
    roots.push_back(g.root);
  }
  return roots;
}

GuestGroups
group_guests(const std::vector<GuestEntry>& guests, const std::string& policy_file)
{
  GuestGroups out;
  std::map<std::string, Policy> policies;  // by file
  std::vector<std::pair<std::string, std::string>> roots;
  for (const auto& g : guests) {
    std::error_code ec;
    if (const auto canonical = std::filesystem::canonical(g.root, ec); !ec) {
      roots.emplace_back(g.name, canonical.string());
    }
  }
  for (const auto& g : guests) {
    try {
      const struct stat st = guest_root_stat(g.root);
      const std::string file = g.policy.empty() ? policy_file : g.policy;
      auto policy = policies.find(file);
      if (policy == policies.end()) {
        policy = policies.emplace(file, load_run_policy(file)).first;
      }
      auto group = std::find_if(out.groups.begin(), out.groups.end(),
                                [&](const GuestGroup& x) { return x.dev == st.st_dev && x.policy_file == file; });
      if (group == out.groups.end()) {
        out.groups.push_back({file, st.st_dev, filesystem_store_path(policy->second, st.st_dev, g.root), {}});
        group = std::prev(out.groups.end());
      }
      group->guests.push_back(g);
    } catch (const ConfigError& e) {
      out.errors.push_back({g.name, "guest " + g.name + ": " + e.what()});
    }
  }
  drop_reachable_stores(out, roots);
  return out;
}

}  // namespace pkgunify
