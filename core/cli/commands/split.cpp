// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/split.hpp"

#include "cli/commands/commands.hpp"
#include "guest/split.hpp"

#include <ostream>

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
  }

  [[nodiscard]] bool
  chosen() const override
  {
    return m_split->parsed() || m_release->parsed();
  }

  std::unique_ptr<Report>
  run() override
  {
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
  void
  add_options(CLI::App& cmd)
  {
    cmd.add_flag("--json", m_common.json, "Print a machine-readable summary");
    cmd.add_flag("--dry-run,-n", m_dry_run, "Change nothing");
    cmd.add_option("PATH", m_paths, "Files (absolute host paths)")->required();
  }

  CLI::App* m_split = nullptr;
  CLI::App* m_release = nullptr;
  bool m_dry_run = false;
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
