// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/sync.hpp"

#include "cli/commands/commands.hpp"
#include "cli/hook_common.hpp"
#include "engine/hooks.hpp"
#include "engine/packages.hpp"
#include "engine/sync.hpp"

#include <ostream>

namespace pkgunify::cli {

namespace {

// Unifies the files of the packages `changed` (config files apart).
HookResult
unify_packages(PackageDb& db, const std::vector<std::string>& changed, const std::string& root,
               const std::string& policy_file, Reporter& reporter)
{
  std::vector<std::string> missing;
  HookRequest request;
  request.root = root;
  request.policy_file = policy_file;
  for (const auto& p : db.packages(changed, missing)) {
    for (const auto& f : p.files) {
      if (f.config) {
        request.config.insert(f.path);
      } else {
        request.files.push_back(f.path);
      }
    }
  }
  return unify_files(request, reporter);
}

// Remembers the packages' stamps `now` and `marker`. After failures (each
// reported) the packages that changed keep their old stamps and the marker
// is forgotten, so that the next sync tries them again.
void
remember(SyncState& state, const std::string& real_root, const std::string& marker,
         const std::vector<PackageStamp>& now, const std::vector<std::string>& changed, std::uint64_t failures)
{
  const auto before = state.stamps;
  state.root = real_root;
  state.marker = marker;
  state.stamps.clear();
  for (const auto& s : now) {
    state.stamps[s.name] = s.fingerprint;
  }
  if (failures == 0) {
    return;
  }
  state.marker.clear();
  for (const auto& name : changed) {
    if (const auto it = before.find(name); it != before.end()) {
      state.stamps[name] = it->second;
    } else {
      state.stamps.erase(name);
    }
  }
}

class SyncCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("sync", "Unify the files of the packages that changed since the last sync of a root");
    add_hook_options(*m_cmd, m_common, m_hook);
    add_db_option(*m_cmd, m_common);
    m_cmd->add_option("--state-dir", m_hook.state_dir, "Where sync remembers roots (default: /var/lib/pkgunify/sync)");
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_hook.root);
    return run_hook(m_hook, [this](HookReporter& reporter) { return sync(reporter); });
  }

private:
  std::unique_ptr<Report>
  sync(Reporter& reporter) const
  {
    auto report = std::make_unique<SyncReport>();
    report->root = hook_root(m_hook);
    report->hook = m_hook.hook;
    auto db = open_db(m_common, report->root, DbNeed::required);
    report->package_db = db->kind();
    RootPaths paths(report->root);
    const std::string state_path =
      SyncState::path_for(m_hook.state_dir.empty() ? k_default_sync_state_dir : m_hook.state_dir, paths.real_root());
    SyncState state = SyncState::load(state_path);
    const std::string marker = db->change_marker();
    if (state.marker == marker && state.root == paths.real_root()) {
      report->unchanged = true;  // nothing happened since the last sync
      return report;
    }
    const auto stamps = db->stamps();
    report->packages = state.changed(stamps);
    HookResult result;
    result.ran = true;
    if (!report->packages.empty()) {
      result = unify_packages(*db, report->packages, report->root, m_common.policy, reporter);
    }
    if (result.ran) {
      remember(state, paths.real_root(), marker, stamps, report->packages, result.stats.errors);
      state.save(state_path);
    }
    report->ran = result.ran;
    report->stats = result.stats;
    return report;
  }

  HookOptions m_hook;
};

}  // namespace

json
SyncReport::to_json() const
{
  json j;
  j["command"] = "sync";
  j["root"] = root;
  j["package_db"] = package_db;
  j["unchanged"] = unchanged;
  j["packages"] = packages;
  if (!unchanged) {
    j.update(scan_json(stats));
  }
  return j;
}

void
SyncReport::print_text(std::ostream& out) const
{
  if (!unchanged && !hook) {
    out << root << ": " << packages.size() << " packages changed, " << stats.linked << " files linked\n";
  }
}

int
SyncReport::exit_status() const
{
  return (!unchanged && (!ran || stats.errors)) ? k_exit_failures : k_exit_ok;
}

std::unique_ptr<Command>
make_sync_command()
{
  return std::make_unique<SyncCommand>();
}

}  // namespace pkgunify::cli
