// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/unify_files.hpp"

#include "cli/commands/commands.hpp"
#include "cli/hook_common.hpp"
#include "engine/hooks.hpp"
#include "guest/background.hpp"
#include "guest/hook_records.hpp"

#include <iostream>
#include <iterator>

namespace pkgunify::cli {

namespace {

class UnifyFilesCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand(
      "unify-files", "Unify the files a transaction installed, listed on standard input (the rpm plugin's worker)");
    add_hook_options(*m_cmd, m_common, m_hook);
    m_cmd->add_flag("--check", m_check_only,
                    "Only check the policy and link mode; a success is remembered until they change");
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_hook.root);
    return run_hook(m_hook, [this](HookReporter& reporter) { return unify(reporter); });
  }

private:
  std::unique_ptr<Report>
  unify(Reporter& reporter) const
  {
    HookRequest request;
    request.root = hook_root(m_hook);
    request.policy_file = m_common.policy;
    if (m_check_only) {
      if (!check_hook_config(request, reporter)) {
        return std::make_unique<SilentReport>(k_exit_usage);
      }
      remember_hook_config(m_common.policy, "/proc/self/exe");
      return std::make_unique<SilentReport>(k_exit_ok);
    }
    const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    HookRecords records = parse_hook_records(input, "standard input");
    request.files = std::move(records.files);
    request.config = std::move(records.config);
    const HookResult result = unify_files(request, reporter);
    auto report = std::make_unique<UnifyFilesReport>();
    report->root = request.root;
    report->ran = result.ran;
    report->stats = result.stats;
    return report;
  }

  HookOptions m_hook;
  bool m_check_only = false;
};

}  // namespace

json
UnifyFilesReport::to_json() const
{
  json j;
  j["command"] = "unify-files";
  j["root"] = root;
  j.update(scan_json(stats));
  return j;
}

void
UnifyFilesReport::print_text(std::ostream& /*out*/) const
{}

int
UnifyFilesReport::exit_status() const
{
  if (!ran) {
    return k_exit_usage;
  }
  return stats.errors ? k_exit_failures : k_exit_ok;
}

std::unique_ptr<Command>
make_unify_files_command()
{
  return std::make_unique<UnifyFilesCommand>();
}

}  // namespace pkgunify::cli
