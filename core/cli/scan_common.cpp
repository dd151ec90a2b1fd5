// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/scan_common.hpp"

#include <ostream>

namespace pkgunify::cli {

namespace {

std::string
joined(const std::vector<std::string>& names)
{
  std::string out;
  for (const auto& n : names) {
    out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

}  // namespace

void
add_scan_options(CLI::App& cmd, CommonOptions& o, ScanFlags& flags)
{
  add_common_options(cmd, o, StoreOption::with);
  add_db_option(cmd, o);
  cmd.add_flag("--dry-run,-n", flags.dry_run, "Change nothing; report what would change");
  cmd.add_option("--jobs,-j", o.jobs, "Hashing threads (default: one per core, at least 4)")
    ->check(CLI::Range(1, 1024));
  cmd.add_option("--create", flags.create, "How objects are made (overrides the policy)")
    ->check(CLI::IsMember(k_create_mode_names.names()));
  cmd.add_option("--min-size", flags.min_size, "Smallest file to unify, in bytes (overrides the policy)");
  cmd.add_flag("--ignore-mtime", flags.ignore_mtime, "Share files that differ only in mtime");
  cmd.add_flag("--trusted-roots", flags.trusted_roots,
               "No root's user is hostile: allows link mode immutable on XFS and btrfs (overrides the policy)");
  cmd.add_option("--link", flags.link, "Link mode (overrides the policy): " + joined(k_link_mode_names.names()))
    ->check(CLI::IsMember(k_link_mode_names.names()));
}

ScanRequest
scan_request(const CommonOptions& o, const ScanFlags& flags, std::vector<std::string> roots)
{
  ScanRequest r;
  r.policy_file = o.policy;
  r.store = o.store;
  r.roots = std::move(roots);
  if (flags.link) {
    r.overrides.link = k_link_mode_names.parse(*flags.link);
  }
  if (flags.create) {
    r.overrides.create = k_create_mode_names.parse(*flags.create);
  }
  r.overrides.min_size = flags.min_size;
  r.overrides.ignore_mtime = flags.ignore_mtime;
  r.overrides.trusted_roots = flags.trusted_roots;
  r.dry_run = flags.dry_run;
  r.jobs = o.jobs;
  return r;
}

ScanStats
run_unifier(ScanSetup& setup, CliReporter& reporter, const std::function<void(Unifier&)>& queue)
{
  setup.opt.progress = [&reporter](const ScanStats& s, std::uint64_t done, std::uint64_t total) {
    reporter.progress(s, done, total);
  };
  Unifier unifier(setup.store, setup.opt, reporter);
  queue(unifier);
  const ScanStats stats = unifier.run();
  reporter.done();
  return stats;
}

ScanReport::ScanReport(std::string command_, const ScanSetup& setup, const ScanStats& stats_, json extra_)
  : command(std::move(command_))
  , store(setup.store.path())
  , extra(std::move(extra_))
  , dry_run(setup.opt.dry_run)
  , create(setup.opt.policy.create)
  , link(setup.opt.link)
  , stats(stats_)
{}

json
ScanReport::to_json() const
{
  json j;
  j["command"] = command;
  j["store"] = store;
  j.update(extra);
  j["dry_run"] = dry_run;
  j["create"] = to_string(create);
  j["link_mode"] = to_string(link);
  j.update(scan_json(stats));
  return j;
}

void
ScanReport::print_text(std::ostream& out) const
{
  const ScanStats& s = stats;
  out << (dry_run ? "dry run: nothing changed\n" : "") << s.files_seen << " files, " << s.candidates
      << " candidates: " << s.linked << (dry_run ? " would be linked, " : " linked, ") << s.already_linked
      << " already linked, " << s.objects_created << " new objects (link mode " << to_string(link) << ")\n"
      << human_bytes(static_cast<double>(s.bytes_read)) << " read, " << human_bytes(static_cast<double>(s.bytes_saved))
      << (dry_run ? " would be saved" : " saved");
  for (const auto& [reason, n] : s.skipped) {
    out << ", " << n << " skipped (" << reason << ")";
  }
  out << '\n';
  if (s.errors) {
    out << s.errors << " files failed (see above)\n";
  }
}

int
ScanReport::exit_status() const
{
  return (stats.errors || missing_packages) ? k_exit_failures : k_exit_ok;
}

}  // namespace pkgunify::cli
