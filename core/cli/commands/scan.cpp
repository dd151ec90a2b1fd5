// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify scan: unifies the files of guest roots.
#include "cli/commands/commands.hpp"
#include "cli/scan_common.hpp"

namespace pkgunify::cli {

namespace {

class ScanCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("scan", "Unify the files of guest roots");
    add_scan_options(*m_cmd, m_common, m_flags);
    m_cmd->add_option("ROOT", m_roots, "Guest root directories")->required();
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_common.store);
    make_absolute(m_roots);
    // Every database is read before anything changes, the store included: a
    // corrupt one stops the run with nothing touched.
    const ScanRequest request = scan_request(m_common, m_flags, m_roots);
    Policy policy = scan_policy(request);
    std::vector<std::shared_ptr<const PackageFilter>> filters;
    for (const auto& r : m_roots) {
      filters.push_back(package_filter(m_common, r, policy));
    }
    ScanSetup setup = setup_scan(request, std::move(policy));
    CliReporter reporter(m_common.json ? Progress::hidden : Progress::shown);
    const ScanStats stats = run_unifier(setup, reporter, [&](Unifier& unifier) {
      std::vector<std::size_t> ids;
      for (std::size_t i = 0; i < m_roots.size(); ++i) {
        ids.push_back(unifier.add_root(m_roots[i], filters[i]));
      }
      for (const auto id : ids) {
        unifier.add_tree(id);
      }
    });
    json extra;
    extra["roots"] = m_roots;
    return std::make_unique<ScanReport>("scan", setup, stats, std::move(extra));
  }

private:
  ScanFlags m_flags;
  std::vector<std::string> m_roots;
};

}  // namespace

std::unique_ptr<Command>
make_scan_command()
{
  return std::make_unique<ScanCommand>();
}

}  // namespace pkgunify::cli
