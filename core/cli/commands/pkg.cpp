// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify pkg: unifies exactly the files of the named installed packages of
// a root.
#include "cli/commands/commands.hpp"
#include "cli/scan_common.hpp"

#include <unordered_set>

namespace pkgunify::cli {

namespace {

class PkgCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("pkg", "Unify exactly the files of the named installed packages of a root");
    add_scan_options(*m_cmd, m_common, m_flags);
    m_cmd->add_option("--root", m_root, "Guest root directory")->required();
    m_cmd->add_option("PACKAGE", m_packages, "Installed package names")->required();
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_common.store);
    make_absolute(m_root);
    auto db = open_db(m_common, m_root, DbNeed::required);
    std::vector<std::string> missing;
    const auto pkgs = db->packages(m_packages, missing);
    ScanSetup setup = setup_scan(scan_request(m_common, m_flags, {m_root}));
    CliReporter reporter(m_common.json ? Progress::hidden : Progress::shown);
    warn_missing(reporter, m_root, *db, missing);
    auto filter = make_package_filter(pkgs, db_source(*db), m_root, unpackaged_rule(setup.opt.policy.only_packaged));
    const ScanStats stats = run_unifier(setup, reporter, [&](Unifier& unifier) {
      const std::size_t id = unifier.add_root(m_root, filter);
      RootPaths paths(m_root);
      std::unordered_set<std::string> seen;
      for (const auto& p : pkgs) {
        for (const auto& f : p.files) {
          const auto canon = paths.canonical(f.path);
          if (canon && seen.insert(*canon).second) {
            unifier.add_file(id, *canon);
          }
        }
      }
    });
    json extra;
    extra["root"] = m_root;
    extra["package_db"] = db->kind();
    extra["packages"] = json::array();
    for (const auto& p : pkgs) {
      extra["packages"].push_back(p.name);
    }
    extra["missing"] = missing;
    auto report = std::make_unique<ScanReport>("pkg", setup, stats, std::move(extra));
    report->missing_packages = missing.size();
    return report;
  }

private:
  ScanFlags m_flags;
  std::string m_root;
  std::vector<std::string> m_packages;
};

}  // namespace

std::unique_ptr<Command>
make_pkg_command()
{
  return std::make_unique<PkgCommand>();
}

}  // namespace pkgunify::cli
