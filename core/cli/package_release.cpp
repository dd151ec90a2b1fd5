// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/package_release.hpp"

#include "engine/packages.hpp"
#include "guest/split.hpp"
#include "pkgdb/debfile.hpp"
#include "pkgdb/pkgdb.hpp"
#include "pkgdb/rpmdb.hpp"
#include "sys/exceptions.hpp"
#include "sys/fd.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <iterator>

namespace pkgunify::cli {

namespace {

// dpkg -R takes the files ending in .deb below each directory.
void
add_debs_below(const std::string& dir, std::vector<std::string>& debs)
{
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".deb" && it->is_regular_file(ec)) {
      debs.push_back(it->path().string());
    }
  }
}

ArchiveInfo
read_package_file(const std::string& path)
{
  return path.ends_with(".rpm") ? read_rpm_file(path) : read_deb(path);
}

// `path` inside the guest `where.root`: opened beneath the root (no symlink,
// no mount, never a FIFO or device), read through its descriptor.
ArchiveInfo
read_guest_package_file(const PackageFiles& where, const std::string& path)
{
  std::string inside = path.starts_with('/') ? path : where.cwd + "/" + path;
  if (where.view_fd >= 0) {
    auto fd = sys::open_regular_in_root(where.view_fd, inside, O_RDONLY, "guest " + where.root + ": " + inside);
    if (!fd) {
      throw ConfigError(fd.error().message);
    }
    return read_package_file("/proc/self/fd/" + std::to_string(fd->get()));
  }
  const std::string display = where.root + inside;
  sys::Fd root(::open(where.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) {
    throw ConfigError(sys::sys_error("open", where.root).message);
  }
  auto fd = sys::open_regular_beneath(root.get(), inside.substr(inside.find_first_not_of('/')), O_RDONLY, display);
  if (!fd) {
    throw ConfigError(fd.error().message);
  }
  ArchiveInfo info = read_package_file("/proc/self/fd/" + std::to_string(fd->get()));
  return info;
}

}  // namespace

std::string
package_file_name(const PackageFiles& where, const std::string& path)
{
  return (where.root.empty() ? read_package_file(path) : read_guest_package_file(where, path)).name;
}

std::set<std::string>
packages_changing(const std::vector<std::string>& args, const PackageFiles& where, Reporter& reporter)
{
  std::set<std::string> names;
  bool removing = false;
  bool installing = false;
  bool recursive = false;  // -R: the arguments of -i/--unpack are directories of .deb files
  std::vector<std::string> debs;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-R" || a == "--recursive") {
      recursive = true;
    } else if (a == "-i" || a == "--install" || a == "--unpack") {
      installing = true;
      removing = false;
    } else if (a == "-r" || a == "--remove" || a == "-P" || a == "--purge") {
      removing = true;
      installing = false;
    } else if (!a.empty() && a[0] == '-') {
      if (a == "--configure" || a == "--triggers-only" || a.starts_with("--verify") || a == "-V") {
        installing = removing = false;
      }
    } else if (installing && recursive && where.root.empty()) {
      add_debs_below(a, debs);
    } else if (installing && recursive) {
      reporter.warning("dpkg -R " + a + " in guest " + where.root + ": its packages are not released first");
    } else if (installing && a.ends_with(".deb")) {
      debs.push_back(a);
    } else if (removing) {
      names.insert(a);
    }
  }
  for (const auto& deb : debs) {
    try {
      names.insert(package_file_name(where, deb));
    } catch (const std::exception& e) {
      reporter.warning(e.what());
    }
  }
  return names;
}

ReleaseCounts
release_packages(const std::string& root, const std::set<std::string>& names, Reporter& reporter)
{
  ReleaseCounts counts;
  auto db = open_package_db(root);
  if (!db) {
    return counts;  // no package database: nothing is a package's
  }
  std::vector<std::string> missing;  // new packages: nothing to release
  std::vector<std::string> paths;
  for (const auto& p : db->packages({names.begin(), names.end()}, missing)) {
    for (const auto& f : p.files) {
      if (!f.config) {
        paths.push_back(f.path);
      }
    }
  }
  return release_guest_paths(root, paths, reporter);
}

ReleaseCounts
release_guest_paths(const std::string& root, const std::vector<std::string>& paths, Reporter& reporter)
{
  ReleaseCounts counts;
  RootPaths resolve(root);
  std::vector<std::string> full;
  for (const auto& path : paths) {
    const auto canon = path.starts_with('/') ? resolve.canonical(path) : std::nullopt;
    if (!canon) {
      ++counts.not_needed;
      continue;
    }
    full.push_back(resolve.real_root() == "/" ? *canon : resolve.real_root() + *canon);
  }
  for (const ReleaseResult r : release_all_if_protected(full, DirResolution::no_symlinks, reporter)) {
    switch (r) {
    case ReleaseResult::released:
      ++counts.released;
      break;
    case ReleaseResult::not_needed:
      ++counts.not_needed;
      break;
    case ReleaseResult::failed:
      ++counts.failed;
      break;
    }
  }
  return counts;
}

std::vector<std::string>
read_nul_list(std::size_t max)
{
  std::string input;
  char buf[65536];
  while (std::cin.read(buf, sizeof(buf)) || std::cin.gcount() > 0) {
    input.append(buf, static_cast<std::size_t>(std::cin.gcount()));
    if (input.size() > max) {
      throw ConfigError("standard input: longer than " + std::to_string(max) + " bytes");
    }
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nul; (nul = input.find('\0', start)) != std::string::npos; start = nul + 1) {
    if (nul > start) {
      out.push_back(input.substr(start, nul - start));
    }
  }
  if (start != input.size()) {
    throw ConfigError("standard input: the last string is not NUL-terminated");
  }
  return out;
}

}  // namespace pkgunify::cli
