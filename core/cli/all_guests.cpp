// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/all_guests.hpp"

#include "sys/exceptions.hpp"

#include <algorithm>
#include <ostream>

namespace pkgunify::cli {

namespace {

json
guest_names(const GuestGroup& group)
{
  json names = json::array();
  for (const auto& g : group.guests) {
    names.push_back(g.name);
  }
  return names;
}

std::string
joined_names(const GuestGroup& group)
{
  std::string out;
  for (const auto& g : group.guests) {
    out += (out.empty() ? "" : ", ") + g.name;
  }
  return out;
}

}  // namespace

void
add_all_guests_options(CLI::App& cmd, AllGuestsOptions& o, CLI::Option* roots)
{
  auto* all = cmd.add_flag("--all", o.all,
                           "Every registered guest (pkgunify guest list), one store per filesystem, instead of ROOT");
  all->excludes(roots);
  if (auto* store = cmd.get_option_no_throw("--store")) {
    all->excludes(store);
  }
  cmd.add_option("--guests-dir", o.guests_dir,
                 std::string("The guest registry (default: ") + k_default_guests_dir + ")");
}

void
require_roots_or_all(const AllGuestsOptions& o, const std::vector<std::string>& roots)
{
  if (!o.all && roots.empty()) {
    throw ConfigError("no root given: name guest roots (ROOT...) or --all for every registered guest");
  }
}

json
GroupsReport::to_json() const
{
  json j;
  j["command"] = command;
  j["all"] = true;
  j["guests_dir"] = guests_dir;
  j["groups"] = json::array();
  for (const auto& p : parts) {
    json part = p.report ? p.report->to_json() : json::object();
    if (!p.report) {
      part["store"] = p.group.store;
    }
    part["policy"] = p.group.policy_file.empty() ? json(nullptr) : json(p.group.policy_file);
    part["guests"] = guest_names(p.group);
    if (!p.report) {
      part["error"] = p.error;
    }
    j["groups"].push_back(std::move(part));
  }
  j["errors"] = errors;
  return j;
}

void
GroupsReport::print_text(std::ostream& out) const
{
  if (parts.empty() && errors.empty()) {
    out << "no guests registered in " << guests_dir << '\n';
  }
  for (const auto& p : parts) {
    out << "store " << p.group.store << " (guests " << joined_names(p.group) << "):\n";
    if (p.report) {
      p.report->print_text(out);
    } else {
      out << "failed: " << p.error << '\n';
    }
  }
  if (!errors.empty()) {
    out << errors.size() << (errors.size() == 1 ? " guest" : " guests") << " left out (see above)\n";
  }
}

int
GroupsReport::exit_status() const
{
  int status = errors.empty() ? k_exit_ok : k_exit_failures;
  for (const auto& p : parts) {
    status = std::max(status, p.report ? p.report->exit_status() : p.error_status);
  }
  return status;
}

std::unique_ptr<GroupsReport>
run_groups(const std::string& command, const AllGuestsOptions& o, const std::string& policy_file, const GroupFn& fn)
{
  auto report = std::make_unique<GroupsReport>();
  report->command = command;
  report->guests_dir = o.guests_dir.empty() ? guests_dir() : o.guests_dir;
  CliReporter reporter(Progress::hidden);
  const GuestRegistry registry = load_guests(report->guests_dir);
  GuestGroups grouped = group_guests(registry.guests, policy_file);
  report->errors = registry.errors;
  for (const auto& problem : grouped.errors) {
    report->errors.push_back(problem.message);
  }
  for (const auto& e : report->errors) {
    reporter.error(e);
  }
  for (auto& group : grouped.groups) {
    GroupsReport::Part& part = report->parts.emplace_back();
    part.group = std::move(group);
    try {
      part.report = fn(part.group);
      if (part.report->failure()) {
        std::rethrow_exception(part.report->failure());
      }
    } catch (const std::exception& e) {
      part.report.reset();
      part.error = e.what();
      part.error_status = dynamic_cast<const ConfigError*>(&e) ? k_exit_usage : k_exit_failures;
      reporter.error("store " + part.group.store + " (guests " + joined_names(part.group) + "): " + part.error);
    }
  }
  return report;
}

}  // namespace pkgunify::cli
