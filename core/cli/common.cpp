#include "cli/common.hpp"

#include "sys/exceptions.hpp"
#include "engine/link_mode.hpp"
#include "pkgdb/pkgdb.hpp"
#include "guest/protection.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace pkgunify::cli {

CliReporter::CliReporter(bool show_progress) : m_progress(show_progress && ::isatty(STDERR_FILENO)) {}

void
CliReporter::error(std::string_view message)
{
  std::lock_guard lock(m_mu);
  clear_line();
  std::cerr << "pkgunify: error: " << message << '\n';
}

void
CliReporter::warning(std::string_view message)
{
  std::lock_guard lock(m_mu);
  clear_line();
  std::cerr << "pkgunify: warning: " << message << '\n';
}

void
CliReporter::progress(const ScanStats& s, std::uint64_t done, std::uint64_t total)
{
  if (!m_progress) {
    return;
  }
  std::lock_guard lock(m_mu);
  std::fprintf(stderr, "\r\033[K%llu/%llu files, %llu linked, %llu already, %.1f MiB read",
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
               static_cast<unsigned long long>(s.linked), static_cast<unsigned long long>(s.already_linked),
               static_cast<double>(s.bytes_read) / (1 << 20));
  m_dirty = true;
}

void
CliReporter::done()
{
  std::lock_guard lock(m_mu);
  clear_line();
}

void
CliReporter::clear_line()
{
  if (m_dirty) {
    std::fputs("\r\033[K", stderr);
    m_dirty = false;
  }
}

std::string
human_bytes(double bytes)
{
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  bool negative = bytes < 0;
  if (negative) {
    bytes = -bytes;
  }
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%s%.0f %s" : "%s%.1f %s", negative ? "-" : "", bytes, units[u]);
  return buf;
}

Policy
load_effective_policy(const CommonOptions& o)
{
  if (!o.policy.empty()) {
    return load_policy(o.policy);
  }
  if (::access(k_system_policy, F_OK) == 0) {
    return load_policy(k_system_policy);
  }
  return default_policy();
}

std::string
store_path(const CommonOptions& o, const Policy& policy, const std::vector<std::string>& roots)
{
  std::string path = o.store;
  if (path.empty() && policy.store) {
    path = *policy.store;
  }
  if (path.empty()) {
    if (roots.empty()) {
      throw ConfigError("no store given: use --store DIR or 'store:' in the policy");
    }
    path = Store::default_location(roots.front());
  }
  return path;
}

Store
open_store(const CommonOptions& o, const Policy& policy, const std::vector<std::string>& roots, bool create)
{
  return Store::open(store_path(o, policy, roots), create);
}

void
raise_fd_limit()
{
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string
json_text(const json& j)
{
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

json
scan_json(const ScanStats& s)
{
  json j;
  j["files_seen"] = s.files_seen;
  j["candidates"] = s.candidates;
  j["linked"] = s.linked;
  j["already_linked"] = s.already_linked;
  j["objects_created"] = s.objects_created;
  j["bytes_read"] = s.bytes_read;
  j["bytes_saved"] = s.bytes_saved;
  j["leftovers_cleaned"] = s.leftovers_cleaned;
  j["protection_fixed"] = s.protection_fixed;
  j["skipped"] = json::object();
  for (const auto& [reason, n] : s.skipped) {
    j["skipped"][reason] = n;
  }
  j["errors"] = s.errors;
  return j;
}

ScanSetup
prepare_scan(const CommonOptions& o, const ScanFlags& flags, const std::vector<std::string>& roots)
{
  ScanOptions opt;
  opt.policy = load_effective_policy(o);
  if (flags.link) {
    opt.policy.link = *parse_link_mode(*flags.link);
  }
  if (flags.create) {
    opt.policy.create = *k_create_mode_names.parse(*flags.create);
  }
  if (flags.min_size) {
    opt.policy.min_size = *flags.min_size;
  }
  if (flags.ignore_mtime) {
    opt.policy.ignore_mtime = true;
  }
  opt.dry_run = flags.dry_run;
  opt.jobs = o.jobs;
  // A dry run never creates the store; without one it reports what a first
  // run would do.
  const std::string spath = store_path(o, opt.policy, roots);
  Store store =
    (flags.dry_run && ::access(spath.c_str(), F_OK) != 0) ? Store::absent(spath) : Store::open(spath, !flags.dry_run);
  const auto kernel = make_vserver_kernel();
  opt.link = resolve_link_mode(opt.policy, *kernel, store);
  return ScanSetup{std::move(opt), std::move(store)};
}

int
report_scan(const CommonOptions& o, const std::string& command, const ScanSetup& setup, const ScanStats& s,
            const json& extra)
{
  const bool dry_run = setup.opt.dry_run;
  if (o.json) {
    json j;
    j["command"] = command;
    j["store"] = setup.store.path();
    j.update(extra);
    j["dry_run"] = dry_run;
    j["create"] = to_string(setup.opt.policy.create);
    j["link_mode"] = to_string(setup.opt.link);
    j.update(scan_json(s));
    std::cout << json_text(j) << '\n';
  } else {
    std::cout << (dry_run ? "dry run: nothing changed\n" : "") << s.files_seen << " files, " << s.candidates
              << " candidates: " << s.linked << (dry_run ? " would be linked, " : " linked, ") << s.already_linked
              << " already linked, " << s.objects_created << " new objects (link mode " << to_string(setup.opt.link)
              << ")\n"
              << human_bytes(static_cast<double>(s.bytes_read)) << " read, "
              << human_bytes(static_cast<double>(s.bytes_saved)) << (dry_run ? " would be saved" : " saved");
    for (const auto& [reason, n] : s.skipped) {
      std::cout << ", " << n << " skipped (" << reason << ")";
    }
    std::cout << '\n';
    if (s.errors) {
      std::cout << s.errors << " files failed (see above)\n";
    }
  }
  return s.errors ? k_exit_failures : k_exit_ok;
}

std::unique_ptr<PackageDb>
open_db(const CommonOptions& o, const std::string& root, bool required)
{
  if (o.db == "none") {
    if (required) {
      throw ConfigError("this command needs a package database (--db none given)");
    }
    return nullptr;
  }
  auto db = open_package_db(root, o.db == "auto" ? std::string() : o.db);
  if (!db && required) {
    throw PackageDbError("no package database in " + root
                         + " (looked for var/lib/dpkg/status, var/lib/rpm, usr/lib/sysimage/rpm, root/.rpmdb)");
  }
  return db;
}

std::shared_ptr<const PackageFilter>
package_filter(const CommonOptions& o, const std::string& root, bool only_packaged)
{
  auto db = open_db(o, root, false);
  if (!db) {
    if (only_packaged) {
      throw ConfigError("only_packaged is set, but " + root + " has no package database");
    }
    return nullptr;
  }
  return make_package_filter(*db, root, only_packaged);
}

}  // namespace pkgunify::cli
