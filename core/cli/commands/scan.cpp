// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify scan: unifies the files of guest roots.
#include "cli/all_guests.hpp"
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
    auto* roots = m_cmd->add_option("ROOT", m_roots, "Guest root directories");
    add_all_guests_options(*m_cmd, m_all, roots);
  }

  std::unique_ptr<Report>
  run() override
  {
    require_roots_or_all(m_all, m_roots);
    make_absolute(m_common.store);
    if (!m_all.all) {
      make_absolute(m_roots);
      return scan(scan_request(m_common, m_flags, m_roots));
    }
    make_absolute(m_all.guests_dir);
    // One scan per filesystem and policy, each with its group's store.
    return run_groups("scan", m_all, m_common.policy, [&](const GuestGroup& group) {
      const std::vector<std::string> roots = guest_roots(group);
      ScanRequest request = scan_request(m_common, m_flags, roots);
      request.policy_file = group.policy_file;
      request.store = group.store;
      return scan(request);
    });
  }

private:
  // The scan of `request.roots`.
  [[nodiscard]] std::unique_ptr<Report>
  scan(const ScanRequest& request) const
  {
    const std::vector<std::string>& roots = request.roots;
    // Every database is read before anything changes, the store included: a
    // corrupt one stops the run with nothing touched.
    Policy policy = scan_policy(request);
    std::vector<std::shared_ptr<const PackageFilter>> filters;
    for (const auto& r : roots) {
      filters.push_back(package_filter(m_common, r, policy));
    }
    ScanSetup setup = setup_scan(request, std::move(policy));
    CliReporter reporter(m_common.json ? Progress::hidden : Progress::shown);
    const ScanStats stats = run_unifier(setup, reporter, [&](Unifier& unifier) {
      std::vector<std::size_t> ids;
      for (std::size_t i = 0; i < roots.size(); ++i) {
        ids.push_back(unifier.add_root(roots[i], filters[i]));
      }
      unifier.add_trees(ids);
    });
    json extra;
    extra["roots"] = roots;
    return std::make_unique<ScanReport>("scan", setup, stats, std::move(extra));
  }

  ScanFlags m_flags;
  AllGuestsOptions m_all;
  std::vector<std::string> m_roots;
};

}  // namespace

std::unique_ptr<Command>
make_scan_command()
{
  return std::make_unique<ScanCommand>();
}

}  // namespace pkgunify::cli
