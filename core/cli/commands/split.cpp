// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/split.hpp"

#include "cli/commands/commands.hpp"
#include "cli/package_release.hpp"
#include "guest/split.hpp"
#include "sys/exceptions.hpp"

#include <ostream>
#include <set>

namespace pkgunify::cli {

namespace {

// What the report calls the paths it split: "split", "released".
std::string
done_word(SplitVerb verb)
{
  return verb == SplitVerb::split ? "split" : "released";
}

class SplitCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_split = app.add_subcommand("split", "Give unified guest paths their private copy again");
    add_options(*m_split);
    m_release = app.add_subcommand("release", "Turn unified guest paths into private, writable files "
                                              "(lifting protection) before a package manager replaces them");
    add_options(*m_release);
    m_release->add_option("--root", m_root,
                          "Guest root: the paths are paths inside it, as the guest sees them (its directory symlinks "
                          "followed inside the root only); only protected files are released");
    m_release
      ->add_flag("--packages", m_packages,
                 "With --root: the arguments are installed packages, by name or as .deb/.rpm files inside the root")
      ->needs("--root");
    m_release->add_flag("--stdin", m_stdin, "Take the arguments from standard input, NUL-terminated (the agent)");
    m_release
      ->add_option(
        "--view-fd", m_view_fd,
        "With --packages: a descriptor of the root as the caller sees it, for its package files (the agent's)")
      ->needs("--packages");
  }

  [[nodiscard]] bool
  chosen() const override
  {
    return m_split->parsed() || m_release->parsed();
  }

  std::unique_ptr<Report>
  run() override
  {
    if (m_stdin) {
      m_paths = read_nul_list();
    }
    if (!m_root.empty()) {
      return release_in_root();
    }
    if (m_paths.empty()) {
      throw ConfigError("no PATH given");
    }
    make_absolute(m_paths);
    auto report = std::make_unique<SplitReport>();
    report->verb = m_split->parsed() ? SplitVerb::split : SplitVerb::release;
    report->dry_run = m_dry_run;
    CliReporter reporter(Progress::hidden);
    for (const auto& p : m_paths) {
      switch (split_path(p, reporter, {.dry_run = m_dry_run})) {
      case SplitResult::split:
        ++report->split;
        break;
      case SplitResult::not_shared:
        ++report->not_shared;
        break;
      case SplitResult::failed:
        ++report->failed;
        break;
      }
    }
    return report;
  }

private:
  // release --root ROOT: paths or packages inside a guest.
  std::unique_ptr<Report>
  release_in_root()
  {
    if (m_dry_run) {
      throw ConfigError("release --root: --dry-run is not supported there");
    }
    make_absolute(m_root);
    auto report = std::make_unique<SplitReport>();
    report->verb = SplitVerb::release;
    CliReporter reporter(Progress::hidden);
    ReleaseCounts counts;
    if (m_packages) {
      std::set<std::string> names;
      for (const auto& p : m_paths) {
        names.insert(p.ends_with(".deb") || p.ends_with(".rpm")
                       ? package_file_name({.root = m_root, .view_fd = m_view_fd}, p)
                       : p);
      }
      counts = release_packages(m_root, names, reporter);
    } else {
      counts = release_guest_paths(m_root, m_paths, reporter);
    }
    report->split = counts.released;
    report->not_shared = counts.not_needed;
    report->failed = counts.failed;
    return report;
  }

  void
  add_options(CLI::App& cmd)
  {
    cmd.add_flag("--json", m_common.json, "Print a machine-readable summary");
    cmd.add_flag("--dry-run,-n", m_dry_run, "Change nothing");
    cmd.add_option("PATH", m_paths, "Files (absolute host paths)");
  }

  CLI::App* m_split = nullptr;
  CLI::App* m_release = nullptr;
  bool m_dry_run = false;
  bool m_packages = false;
  bool m_stdin = false;
  int m_view_fd = -1;
  std::string m_root;
  std::vector<std::string> m_paths;
};

}  // namespace

json
SplitReport::to_json() const
{
  json j;
  j["command"] = verb == SplitVerb::split ? "split" : "release";
  j["dry_run"] = dry_run;
  j[done_word(verb)] = split;
  j["not_shared"] = not_shared;
  j["errors"] = failed;
  return j;
}

void
SplitReport::print_text(std::ostream& out) const
{
  const std::string done = done_word(verb);
  out << split << (dry_run ? " would be " + done + ", " : " " + done + ", ") << not_shared << " not shared";
  if (failed) {
    out << ", " << failed << " failed";
  }
  out << '\n';
}

int
SplitReport::exit_status() const
{
  return failed ? k_exit_failures : k_exit_ok;
}

std::unique_ptr<Command>
make_split_command()
{
  return std::make_unique<SplitCommand>();
}

}  // namespace pkgunify::cli
