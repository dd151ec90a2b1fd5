// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/dpkg_release.hpp"

#include "cli/commands/commands.hpp"
#include "cli/hook_common.hpp"
#include "cli/package_release.hpp"
#include "guest/dpkg_caller.hpp"

#include <set>

namespace pkgunify::cli {

namespace {

class DpkgReleaseCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("dpkg-release",
                               "Before a dpkg run: release the protected unified files of the packages it will change");
    add_hook_options(*m_cmd, m_common, m_hook);
    m_cmd->add_flag("--args-from-stdin", m_args_from_stdin,
                    "Take the dpkg run's argument vector from standard input (NUL-terminated strings; the agent, "
                    "for a dpkg run inside the guest --root names): its .deb files are then paths inside the root");
    m_cmd->add_option("--view-fd", m_view_fd,
                      "With --args-from-stdin: a descriptor of the root as the dpkg run sees it (the agent's)");
    m_cmd->add_option("--cwd", m_cwd, "With --args-from-stdin: the dpkg run's directory inside the root")
      ->check([](const std::string& v) { return v.starts_with('/') ? std::string() : "not an absolute path"; });
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_hook.root);
    return run_hook(m_hook, [this](HookReporter& reporter) -> std::unique_ptr<Report> {
      const std::string root = hook_root(m_hook);
      PackageFiles where;
      if (m_args_from_stdin) {
        where.root = root;
        where.cwd = m_cwd.empty() ? "/" : m_cwd;
        where.view_fd = m_view_fd;
      }
      // Else dpkg -> sh -c -> pkgunify (guest/dpkg_caller.hpp); no dpkg above: nothing to do.
      std::vector<std::string> args;
      if (m_args_from_stdin) {
        args = read_nul_list();
      } else if (auto caller = find_dpkg_caller()) {
        args = std::move(caller->argv);
      }
      const std::set<std::string> names = packages_changing(args, where, reporter);
      if (names.empty()) {
        return std::make_unique<SilentReport>(k_exit_ok);
      }
      auto report = std::make_unique<DpkgReleaseReport>();
      report->root = root;
      report->packages.assign(names.begin(), names.end());
      report->released = release_packages(root, names, reporter).released;
      report->errors = reporter.errors;
      return report;
    });
  }

private:
  HookOptions m_hook;
  bool m_args_from_stdin = false;
  std::string m_cwd;
  int m_view_fd = -1;
};

}  // namespace

json
DpkgReleaseReport::to_json() const
{
  json j;
  j["command"] = "dpkg-release";
  j["root"] = root;
  j["packages"] = packages;
  j["released"] = released;
  return j;
}

void
DpkgReleaseReport::print_text(std::ostream& /*out*/) const
{}

int
DpkgReleaseReport::exit_status() const
{
  return errors ? k_exit_failures : k_exit_ok;
}

std::unique_ptr<Command>
make_dpkg_release_command()
{
  return std::make_unique<DpkgReleaseCommand>();
}

}  // namespace pkgunify::cli
