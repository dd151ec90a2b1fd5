// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest_tools.hpp"

#include "harness.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace pkgunify::itest {

const std::vector<std::string> k_unused_tool_packages = {"perl", "debugedit", "rpm2cpio", "gnupg-l10n"};
const std::vector<std::string> k_dpkg_tools = {"dpkg"};
const std::vector<std::string> k_apt_tools = {"dpkg", "apt"};
const std::vector<std::string> k_rpm_tools = {"rpm"};
const std::vector<std::string> k_dnf_tools = {"rpm", "dnf"};

namespace {

namespace fs = std::filesystem;

// Always copied: /bin/sh and the commands scripts run.
const char* const k_base_packages[] = {"dash", "coreutils"};
// dpkg checks that these are in PATH before it does anything.
const char* const k_dpkg_needs[] = {"diffutils", "libc-bin"};
// apt runs debconf's dpkg-preconfigure, a perl script; perl-base is
// Essential, so no package declares it.
const char* const k_apt_needs[] = {"perl-base"};
// Debian's rpm finds its database with %(bash -c 'echo ~/.rpmdb'); without
// bash (Essential too) it would use /rpmdb.sqlite.
const char* const k_rpm_needs[] = {"bash"};

// Never copied: documentation, and what belongs to the guest's own
// package databases.
const char* const k_skipped_trees[] = {
  "/usr/share/doc",     "/usr/share/doc-base", "/usr/share/man", "/usr/share/info", "/usr/share/locale",
  "/usr/share/lintian", "/usr/share/bug",      "/var/lib/dpkg",  "/var/lib/rpm",    "/root"};

std::string
trim(std::string_view s)
{
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string_view::npos) {
    return {};
  }
  const auto e = s.find_last_not_of(" \t\n");
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string>
split(std::string_view s, char sep)
{
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto end = s.find(sep, start);
    out.push_back(std::string(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start)));
    if (end == std::string_view::npos) {
      break;
    }
    start = end + 1;
  }
  return out;
}

// "python3:any (>= 3.9)" -> "python3".
std::string
relation_name(std::string_view rel)
{
  std::string name = trim(rel);
  name = name.substr(0, name.find_first_of(" (["));
  return name.substr(0, name.find(':'));
}

// The installed host packages: each one's dependencies (groups of
// alternatives), its instances ("libc6:amd64", one per architecture
// installed: what dpkg-query -L needs), and which installed package
// provides a virtual name.
struct HostDb
{
  std::map<std::string, std::vector<std::vector<std::string>>> depends;
  std::map<std::string, std::vector<std::string>> instances;
  std::map<std::string, std::string> providers;

  [[nodiscard]] std::string
  resolve(const std::string& name) const
  {
    if (depends.contains(name)) {
      return name;
    }
    const auto it = providers.find(name);
    return it == providers.end() ? std::string{} : it->second;
  }
};

HostDb
read_host_db()
{
  const ShellResult r =
    shell("dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${binary:Package}\\t${Provides}\\t${Pre-Depends}, "
          "${Depends}\\n'");
  if (r.status != 0) {
    throw std::runtime_error("dpkg-query -W failed:\n" + r.output);
  }
  HostDb db;
  for (const auto& line : split(r.output, '\n')) {
    const auto fields = split(line, '\t');
    if (fields.size() != 5 || fields[0].size() < 2 || fields[0][0] != 'i' || fields[0][1] != 'i') {
      continue;
    }
    db.instances[fields[1]].push_back(fields[2]);
    auto& groups = db.depends[fields[1]];
    for (const auto& group : split(fields[4], ',')) {
      std::vector<std::string> alternatives;
      for (const auto& alt : split(group, '|')) {
        if (auto n = relation_name(alt); !n.empty()) {
          alternatives.push_back(std::move(n));
        }
      }
      if (!alternatives.empty()) {
        groups.push_back(std::move(alternatives));
      }
    }
    for (const auto& p : split(fields[3], ',')) {
      if (auto n = relation_name(p); !n.empty()) {
        db.providers.emplace(n, fields[1]);
      }
    }
  }
  return db;
}

const HostDb&
host_db()
{
  static const HostDb db = read_host_db();
  return db;
}

std::vector<std::string>
closure(const std::vector<std::string>& wanted, const std::vector<std::string>& exclude)
{
  const HostDb& db = host_db();
  const std::set<std::string> excluded(exclude.begin(), exclude.end());
  std::set<std::string> seen;
  std::vector<std::string> todo;
  for (const auto& w : wanted) {
    const std::string p = db.resolve(w);
    if (p.empty()) {
      throw std::runtime_error("install_host_tools: host package " + w + " is not installed");
    }
    todo.push_back(p);
  }
  while (!todo.empty()) {
    const std::string p = todo.back();
    todo.pop_back();
    if (excluded.contains(p) || !seen.insert(p).second) {
      continue;
    }
    for (const auto& alternatives : db.depends.at(p)) {
      for (const auto& alt : alternatives) {
        if (auto q = db.resolve(alt); !q.empty()) {
          todo.push_back(std::move(q));
          break;
        }
      }
    }
  }
  return {seen.begin(), seen.end()};
}

bool
in_skipped_tree(const std::string& p)
{
  return std::any_of(std::begin(k_skipped_trees), std::end(k_skipped_trees),
                     [&](const std::string& top) { return p == top || p.starts_with(top + "/"); });
}

// The compiled modules Python wrote next to a listed `dir/stem.py`: no
// package owns them, and without them every dnf run compiles its modules.
void
add_pycache(const fs::path& py, std::set<std::string>& out)
{
  const fs::path cache = py.parent_path() / "__pycache__";
  std::error_code ec;
  if (!fs::is_directory(cache, ec)) {
    return;
  }
  const std::string prefix = py.stem().string() + ".";
  for (const auto& e : fs::directory_iterator(cache, ec)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with(prefix) && n.ends_with(".pyc")) {
      out.insert(cache.string());
      out.insert(e.path().string());
    }
  }
}

// The host paths to copy, by their real parent directories, sorted.
std::vector<std::string>
file_list(const std::vector<std::string>& packages)
{
  std::string cmd = "dpkg-query -L";
  for (const auto& p : packages) {
    for (const auto& instance : host_db().instances.at(p)) {
      cmd += " " + quote(instance);
    }
  }
  const ShellResult r = shell(cmd);
  if (r.status != 0) {
    throw std::runtime_error("dpkg-query -L failed:\n" + r.output);
  }
  std::set<std::string> out;
  for (const auto& line : split(r.output, '\n')) {
    if (!line.starts_with("/") || line == "/." || line == "/" || in_skipped_tree(line)) {
      continue;
    }
    const fs::path p(line);
    std::error_code ec;
    const fs::path parent = fs::canonical(p.parent_path(), ec);
    struct stat st;
    if (ec || ::lstat(line.c_str(), &st) != 0) {
      continue;  // listed, but not on this host (a path-exclude of dpkg.cfg)
    }
    const fs::path real = parent / p.filename();
    if (in_skipped_tree(real.string())) {
      continue;
    }
    out.insert(real.string());
    if (S_ISREG(st.st_mode) && real.extension() == ".py") {
      add_pycache(real, out);
    }
  }
  return {out.begin(), out.end()};
}

struct ToolSet
{
  std::vector<std::string> packages;
  std::vector<std::string> paths;
};

const ToolSet&
tool_set(const std::vector<std::string>& wanted, const std::vector<std::string>& exclude)
{
  static std::mutex mutex;
  static std::map<std::string, ToolSet> cache;
  std::string key;
  for (const auto& w : wanted) {
    key += w + ",";
  }
  key += "|";
  for (const auto& x : exclude) {
    key += x + ",";
  }
  const std::lock_guard lock(mutex);
  if (const auto it = cache.find(key); it != cache.end()) {
    return it->second;
  }
  ToolSet set;
  set.packages = closure(wanted, exclude);
  set.paths = file_list(set.packages);
  return cache.emplace(key, std::move(set)).first->second;
}

void
copy_paths(const std::vector<std::string>& paths, const std::string& root)
{
  char tmpl[] = "/tmp/pkgunify-guesttools.XXXXXX";
  const int fd = ::mkstemp(tmpl);
  if (fd < 0) {
    throw std::runtime_error("mkstemp /tmp/pkgunify-guesttools.XXXXXX failed");
  }
  ::close(fd);
  const std::string list = tmpl;
  std::string text;
  for (const auto& p : paths) {
    text += p.substr(1);  // relative to "/"
    text += '\0';
  }
  write_text(list, text);
  const RunResult r = run_command({"bash", "-c",
                                   "set -o pipefail; tar -C / --no-recursion --null --numeric-owner -T \"$1\" -cf - "
                                   "| tar -C \"$2\" --numeric-owner -xf -",
                                   "pkgunify-copy", list, root},
                                  600);
  ::unlink(list.c_str());
  if (r.exit_code != 0) {
    throw std::runtime_error("install_host_tools: copying into " + root + " failed:\n" + r.describe());
  }
}

void
make_dir_mode(const std::string& path, mode_t mode)
{
  make_dirs(path, mode);
  if (::chmod(path.c_str(), mode) != 0) {
    throw std::runtime_error("chmod " + path + " failed");
  }
}

void
write_if_missing(const std::string& path, const std::string& text)
{
  if (!exists(path)) {
    write_text(path, text);
  }
}

void
add_runtime_files(const std::string& root, bool apt)
{
  for (const char* d : {"/proc", "/dev", "/sys", "/run/pkgunify", "/var/log", "/etc"}) {
    make_dirs(root + d);
  }
  make_dir_mode(root + "/tmp", 01777);
  make_dir_mode(root + "/var/tmp", 01777);
  make_dir_mode(root + "/root", 0700);
  // The host's /etc/os-release is a symlink (to ../usr/lib/os-release).
  std::ifstream os_release("/etc/os-release");
  std::stringstream text;
  text << os_release.rdbuf();
  if (!os_release || text.str().empty()) {
    throw std::runtime_error("install_host_tools: cannot read the host's /etc/os-release");
  }
  write_if_missing(root + "/etc/os-release", text.str());
  write_if_missing(root + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
  write_if_missing(root + "/etc/group", "root:x:0:\n");
  if (!apt) {
    return;
  }
  for (const char* d : {"/var/lib/apt/lists/partial", "/var/cache/apt/archives/partial", "/etc/apt/sources.list.d",
                        "/etc/apt/apt.conf.d", "/etc/apt/preferences.d", "/var/log/apt"}) {
    make_dirs(root + d);
  }
  write_text(root + "/etc/apt/apt.conf.d/99pkgunify-test",
             "// pkgunify tests: the guest has no _apt user and no translations.\n"
             "APT::Sandbox::User \"root\";\nAcquire::Languages \"none\";\n");
}

}  // namespace

std::string
HostTools::describe() const
{
  std::ostringstream s;
  s << packages.size() << " packages, " << entries << " entries, " << bytes / 1000000.0 << " MB in " << seconds << " s";
  return s.str();
}

HostTools
install_host_tools(const std::string& root, const std::vector<std::string>& packages,
                   const std::vector<std::string>& exclude)
{
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> wanted(std::begin(k_base_packages), std::end(k_base_packages));
  const auto asks = [&](const char* name) {
    return std::find(packages.begin(), packages.end(), name) != packages.end();
  };
  if (asks("dpkg") || asks("apt")) {
    wanted.insert(wanted.end(), std::begin(k_dpkg_needs), std::end(k_dpkg_needs));
  }
  if (asks("apt")) {
    wanted.insert(wanted.end(), std::begin(k_apt_needs), std::end(k_apt_needs));
  }
  if (asks("rpm") || asks("dnf")) {
    wanted.insert(wanted.end(), std::begin(k_rpm_needs), std::end(k_rpm_needs));
  }
  wanted.insert(wanted.end(), packages.begin(), packages.end());
  const ToolSet& set = tool_set(wanted, exclude);
  make_dirs(root);
  copy_paths(set.paths, root);
  const bool apt = std::find(set.packages.begin(), set.packages.end(), "apt") != set.packages.end();
  add_runtime_files(root, apt);

  HostTools out;
  out.packages = set.packages;
  out.entries = set.paths.size();
  for (const auto& p : set.paths) {
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      out.bytes += static_cast<std::uint64_t>(st.st_size);
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

// ---- Local repositories ---------------------------------------------------------

namespace {

void
copy_into(const std::string& dir, const std::vector<std::string>& files)
{
  make_dirs(dir);
  for (const auto& f : files) {
    fs::copy_file(f, fs::path(dir) / fs::path(f).filename(), fs::copy_options::overwrite_existing);
  }
}

}  // namespace

void
make_apt_repo(const std::string& dir, const std::vector<std::string>& debs)
{
  copy_into(dir, debs);
  const ShellResult r = shell("cd " + quote(dir) + " && dpkg-scanpackages --multiversion . /dev/null > Packages");
  if (r.status != 0 || read_file(dir + "/Packages").empty()) {
    throw std::runtime_error("dpkg-scanpackages in " + dir + " failed:\n" + r.output);
  }
  // A Release naming the one index, so that apt fetches just that (without
  // it, apt tries every compressed name first).
  const ShellResult sum = shell("sha256sum " + quote(dir + "/Packages"));
  if (sum.status != 0) {
    throw std::runtime_error("sha256sum " + dir + "/Packages failed:\n" + sum.output);
  }
  write_text(dir + "/Release", "Date: Thu, 01 Jan 2026 00:00:00 UTC\nSHA256:\n " + sum.output.substr(0, 64) + " "
                                 + std::to_string(stat_path(dir + "/Packages").size) + " Packages\n");
}

void
use_apt_repo(const std::string& root, const std::string& guest_dir)
{
  make_dirs(root + "/etc/apt/sources.list.d");
  write_text(root + "/etc/apt/sources.list.d/pkgunify-test.list", "deb [trusted=yes] file:" + guest_dir + " ./\n");
}

void
make_rpm_repo(const std::string& dir, const std::vector<std::string>& rpms)
{
  copy_into(dir, rpms);
  const ShellResult r = shell("createrepo_c --quiet --no-database " + quote(dir));
  if (r.status != 0 || !exists(dir + "/repodata/repomd.xml")) {
    throw std::runtime_error("createrepo_c " + dir + " failed:\n" + r.output);
  }
}

void
use_dnf_repo(const std::string& root, const std::string& guest_dir)
{
  make_dirs(root + "/etc/dnf");
  make_dirs(root + "/etc/pkgunify-test/yum.repos.d");
  write_text(root + "/etc/dnf/dnf.conf",
             "# pkgunify tests: only the test's repository, nothing from a network.\n"
             "[main]\nreposdir=/etc/pkgunify-test/yum.repos.d\ncachedir=/var/cache/pkgunify-test/dnf\n"
             "gpgcheck=0\nrepo_gpgcheck=0\nlocalpkg_gpgcheck=0\nplugins=0\ninstall_weak_deps=0\n"
             "skip_if_unavailable=0\nkeepcache=0\n");
  write_text(root + "/etc/pkgunify-test/yum.repos.d/pkgunify-test.repo",
             "[pkgunify-test]\nname=pkgunify test repository\nbaseurl=file://" + guest_dir
               + "\nenabled=1\ngpgcheck=0\nmetadata_expire=0\n");
}

PkgSpec
guest_package(const std::string& name, const std::string& version)
{
  PkgSpec p;
  p.name = name;
  p.version = version;
  p.files = {
    {"/usr/bin/" + name, version + "\n" + std::string(20000, 'g'), 0755, false},
    {"/usr/lib/" + name + "/data.bin", version + "\n" + std::string(40000, 'd'), 0644, false},
    {"/usr/share/" + name + "/same.dat", std::string(4000, 's'), 0644, false},
    {"/etc/" + name + ".conf", "conf " + version + "\n", 0644, true},
  };
  return p;
}

std::string
bin_version(const std::string& root, const std::string& name)
{
  const std::string file = root + "/usr/bin/" + name;
  if (!exists(file)) {
    return {};
  }
  const std::string content = read_file(file);
  return content.substr(0, content.find('\n'));
}

}  // namespace pkgunify::itest
