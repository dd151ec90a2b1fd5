// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/status.hpp"

#include "cli/all_guests.hpp"
#include "cli/commands/commands.hpp"
#include "sys/fs.hpp"

#include <ostream>

namespace pkgunify::cli {

namespace {

class StatusCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("status", "Show how much of each root is unified, and in which link mode");
    add_common_options(*m_cmd, m_common, StoreOption::with);
    m_cmd->add_flag("--files", m_list_files, "List every unified file with its mode");
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
      return status(m_common, m_roots);
    }
    make_absolute(m_all.guests_dir);
    return run_groups("status", m_all, m_common.policy, [&](const GuestGroup& group) {
      const std::vector<std::string> roots = guest_roots(group);
      CommonOptions o = m_common;
      o.policy = group.policy_file;
      o.store = group.store;
      return status(o, roots);
    });
  }

private:
  [[nodiscard]] std::unique_ptr<Report>
  status(const CommonOptions& o, const std::vector<std::string>& roots) const
  {
    const auto [policy, store] = open_policy_and_store(o, roots);
    CliReporter reporter(Progress::hidden);
    auto report = std::make_unique<StatusReport>();
    report->store = store.path();
    FileModeFn each;
    if (m_list_files) {
      report->files.emplace();
      each = [files = &*report->files](const std::string& root, const std::string& path, std::string_view mode) {
        files->push_back({root, path, std::string(mode)});
      };
    }
    try {
      report->roots = roots_status(store, policy, roots, reporter, each);
    } catch (...) {
      report->fail(std::current_exception());
    }
    return report;
  }

  // The one place the roots' status is computed: with each root's package
  // database, as a scan reads it, so that both count the same candidates.
  [[nodiscard]] std::vector<RootStatus>
  roots_status(const Store& store, const Policy& policy, const std::vector<std::string>& roots, Reporter& reporter,
               const FileModeFn& each) const
  {
    PackageFilters filters;
    for (const auto& r : roots) {
      filters.push_back(package_filter(m_common, r, policy));
    }
    return root_status(store, policy, roots, reporter, each, nullptr, filters);
  }

  bool m_list_files = false;
  AllGuestsOptions m_all;
  std::vector<std::string> m_roots;
};

}  // namespace

json
StatusReport::to_json() const
{
  json j;
  j["command"] = "status";
  j["store"] = store;
  j["roots"] = json::array();
  for (const auto& s : roots) {
    json modes = json::object();
    for (const auto& [mode, n] : s.modes) {
      modes[mode] = n;
    }
    j["roots"].push_back({{"root", s.root},
                          {"modes", modes},
                          {"files", s.files},
                          {"bytes", s.bytes},
                          {"candidates", s.candidates},
                          {"candidate_bytes", s.candidate_bytes},
                          {"unified_files", s.unified_files},
                          {"unified_bytes", s.unified_bytes},
                          {"saved_bytes", s.saved_bytes}});
  }
  if (files) {
    j["files"] = json::array();
    for (const auto& f : *files) {
      j["files"].push_back({{"root", f.root}, {"path", f.path}, {"mode", f.mode}});
    }
  }
  return j;
}

void
StatusReport::print_text(std::ostream& out) const
{
  if (files) {
    for (const auto& f : *files) {
      out << f.mode << '\t' << sys::join_display(f.root, f.path) << '\n';
    }
  }
  for (const auto& s : roots) {
    const double pct =
      s.candidates ? 100.0 * static_cast<double>(s.unified_files) / static_cast<double>(s.candidates) : 0.0;
    out << s.root << ": " << s.unified_files << " of " << s.candidates << " candidate files unified ("
        << static_cast<int>(pct) << "%), " << human_bytes(static_cast<double>(s.unified_bytes)) << " shared, saves "
        << human_bytes(static_cast<double>(s.saved_bytes)) << " (" << s.files << " files, "
        << human_bytes(static_cast<double>(s.bytes)) << " in all)";
    for (const auto& [mode, n] : s.modes) {
      out << ", " << n << ' ' << mode;
    }
    out << '\n';
  }
}

int
StatusReport::exit_status() const
{
  return k_exit_ok;
}

std::unique_ptr<Command>
make_status_command()
{
  return std::make_unique<StatusCommand>();
}

}  // namespace pkgunify::cli
