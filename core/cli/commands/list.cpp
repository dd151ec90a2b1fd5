// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/list.hpp"

#include "cli/commands/commands.hpp"
#include "sys/exceptions.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <ostream>

namespace pkgunify::cli {

namespace {

// lstat of a canonical path inside the root, through openat2 beneath it.
std::optional<struct stat>
stat_in_root(int root_fd, const std::string& path)
{
  const auto slash = path.rfind('/');
  const std::string dir = slash == 0 ? "." : path.substr(1, slash - 1);
  auto dfd = sys::open_beneath(root_fd, dir, O_PATH | O_DIRECTORY, path);
  if (!dfd) {
    return std::nullopt;
  }
  struct stat st;
  std::uint64_t attributes = 0;
  if (sys::stat_entry(dfd->get(), path.substr(slash + 1).c_str(), st, attributes) != 0) {
    return std::nullopt;
  }
  return st;
}

class ListCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("list", "Show each file of a root's packages: config or not, candidate or not, and why");
    add_common_options(*m_cmd, m_common, StoreOption::without);
    add_db_option(*m_cmd, m_common);
    m_cmd->add_option("--root", m_root, "Guest root directory")->required();
    m_cmd->add_option("PACKAGE", m_packages, "Installed package names (default: all)");
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_root);
    const Policy policy = load_run_policy(m_common.policy);
    auto db = open_db(m_common, m_root, DbNeed::required);
    auto report = std::make_unique<ListReport>();
    report->root = m_root;
    report->package_db = db->kind();
    report->database = db->location();
    const auto pkgs = m_packages.empty() ? db->packages() : db->packages(m_packages, report->missing);
    report->packages = pkgs.size();
    CliReporter reporter(Progress::hidden);
    warn_missing(reporter, m_root, *db, report->missing);
    auto filter = make_package_filter(pkgs, db_source(*db), m_root, Unpackaged::allowed);
    auto root_fd = sys::open_host_dir(m_root);
    if (!root_fd) {
      throw ConfigError("root " + root_fd.error().message);
    }
    RootPaths paths(m_root);
    for (const auto& p : pkgs) {
      for (const auto& f : p.files) {
        add_entry(*report, policy, *filter, paths, root_fd->get(), p.name, f);
      }
    }
    return report;
  }

private:
  static void
  add_entry(ListReport& report, const Policy& policy, const PackageFilter& filter, RootPaths& paths, int root_fd,
            const std::string& package, const PackageFile& f)
  {
    const auto canon = paths.canonical(f.path);
    const auto st = canon ? stat_in_root(root_fd, *canon) : std::nullopt;
    if (st && S_ISDIR(st->st_mode)) {
      return;  // directories are no files to unify
    }
    ListEntry e;
    e.package = package;
    e.path = f.path;
    e.config = f.config;
    if (canon && *canon != f.path) {
      e.resolved = *canon;
    }
    if (!st) {
      e.reason = "missing";
    } else if (auto verdict = candidate_verdict(policy, &filter, *canon, *st)) {
      e.reason = verdict->detail;
    } else {
      e.reason = "candidate";
      e.candidate = true;
      ++report.candidates;
    }
    report.config_files += f.config ? 1 : 0;
    report.files.push_back(std::move(e));
  }

  std::string m_root;
  std::vector<std::string> m_packages;
};

}  // namespace

json
ListReport::to_json() const
{
  json jfiles = json::array();
  for (const auto& e : files) {
    json j = {
      {"package", e.package}, {"path", e.path}, {"config", e.config}, {"candidate", e.candidate}, {"reason", e.reason}};
    if (e.resolved) {
      j["resolved"] = *e.resolved;
    }
    jfiles.push_back(std::move(j));
  }
  json j;
  j["command"] = "list";
  j["root"] = root;
  j["package_db"] = package_db;
  j["database"] = database;
  j["packages"] = packages;
  j["missing"] = missing;
  j["candidates"] = candidates;
  j["config_files"] = config_files;
  j["files"] = std::move(jfiles);
  return j;
}

void
ListReport::print_text(std::ostream& out) const
{
  for (const auto& e : files) {
    out << e.package << '\t' << (e.config ? "config" : "-") << '\t' << (e.candidate ? "candidate" : "-") << '\t'
        << e.path << '\t' << e.reason << '\n';
  }
}

int
ListReport::exit_status() const
{
  return missing.empty() ? k_exit_ok : k_exit_failures;
}

std::unique_ptr<Command>
make_list_command()
{
  return std::make_unique<ListCommand>();
}

}  // namespace pkgunify::cli
