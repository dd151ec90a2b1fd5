// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/common.hpp"

#include "engine/session.hpp"
#include "guest/background.hpp"
#include "pkgdb/pkgdb.hpp"
#include "sys/exceptions.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace pkgunify::cli {

CliReporter::CliReporter(Progress progress) : m_progress(progress == Progress::shown && ::isatty(STDERR_FILENO)) {}

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

void
add_common_options(CLI::App& cmd, CommonOptions& o, StoreOption store)
{
  if (store == StoreOption::with) {
    cmd.add_option("--store", o.store, "Hash store directory (overrides the policy)");
  }
  cmd.add_option("--policy", o.policy, std::string("Policy file (default: ") + k_system_policy_path + " if present)");
  cmd.add_flag("--json", o.json, "Print a machine-readable summary");
}

void
add_db_option(CLI::App& cmd, CommonOptions& o)
{
  cmd.add_option("--db", o.db, "Package database of the roots: auto (detect), rpm, dpkg, none")
    ->check(CLI::IsMember({"auto", "rpm", "dpkg", "none"}));
}

void
make_absolute(std::string& path)
{
  if (!path.empty() && path.front() != '/') {
    path = std::filesystem::absolute(path).lexically_normal().string();
  }
}

void
make_absolute(std::vector<std::string>& paths)
{
  for (auto& p : paths) {
    make_absolute(p);
  }
}

PolicyAndStore
open_policy_and_store(const CommonOptions& o, const std::vector<std::string>& roots)
{
  Policy policy = load_run_policy(o.policy);
  Store store = Store::open(run_store_path(o.store, policy, roots), Store::Create::no);
  return PolicyAndStore{std::move(policy), std::move(store)};
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
  j["bytes_copied"] = s.bytes_copied;
  j["bytes_read"] = s.bytes_read;
  j["bytes_saved"] = s.bytes_saved;
  j["leftovers_cleaned"] = s.leftovers_cleaned;
  j["protection_fixed"] = s.protection_fixed;
  j["skipped"] = json::object();
  for (const auto& [reason, n] : s.skipped) {
    j["skipped"][reason] = n;
  }
  j["errors"] = s.errors;
  j["batches"] = s.batches;
  j["largest_batch"] = s.largest_batch;
  j["store_index_entries"] = s.store_index_entries;
  return j;
}

std::unique_ptr<PackageDb>
open_db(const CommonOptions& o, const std::string& root, DbNeed need)
{
  if (o.db == "none") {
    if (need == DbNeed::required) {
      throw ConfigError("this command needs a package database (--db none given)");
    }
    return nullptr;
  }
  auto db = open_package_db(root, o.db == "auto" ? std::string() : o.db);
  if (!db && need == DbNeed::required) {
    throw PackageDbError("no package database in " + root
                         + " (looked for var/lib/dpkg/status, var/lib/rpm, usr/lib/sysimage/rpm, root/.rpmdb)");
  }
  return db;
}

std::string
db_source(const PackageDb& db)
{
  return std::string(db.kind()) + " database " + db.location();
}

void
warn_missing(Reporter& reporter, const std::string& root, const PackageDb& db, const std::vector<std::string>& missing)
{
  for (const auto& m : missing) {
    reporter.warning(root + ": package " + m + " is not installed (" + db_source(db) + ")");
  }
}

std::shared_ptr<const PackageFilter>
package_filter(const CommonOptions& o, const std::string& root, const Policy& policy)
{
  auto db = open_db(o, root, DbNeed::optional);
  if (!db) {
    if (policy.only_packaged) {
      throw ConfigError("only_packaged is set, but " + root + " has no package database");
    }
    return nullptr;
  }
  return make_package_filter(*db, root, unpackaged_rule(policy.only_packaged));
}

}  // namespace pkgunify::cli
