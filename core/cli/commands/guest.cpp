// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/guest.hpp"

#include "cli/commands/commands.hpp"
#include "guest/background.hpp"
#include "sys/exceptions.hpp"

#include <ostream>

namespace pkgunify::cli {

namespace {

std::string
agent_state(const GuestInfo& g)
{
  return g.agent_served ? "served" : "not served";
}

class GuestCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("guest", "Register the host's guests (for scan --all, status --all and the agent)");
    m_cmd->require_subcommand(1);
    m_add = m_cmd->add_subcommand("add", "Register a guest: its name and root directory");
    m_remove = m_cmd->add_subcommand("remove", "Remove a guest from the registry (its files stay as they are)");
    m_list = m_cmd->add_subcommand("list", "List the guests: root, how much is unified, agent, warnings");
    m_add->add_option("NAME", m_name, "The guest's name")->required();
    m_add->add_option("ROOT", m_root, "Its root directory")->required();
    m_add->add_option("--policy", m_policy, "Its own policy file (default: the policy of the run)");
    m_remove->add_option("NAME", m_name, "The guest's name")->required();
    m_list->add_option("--policy", m_common.policy,
                       std::string("Policy of the guests without their own (default: ") + k_system_policy_path
                         + " if present)");
    for (auto* cmd : {m_add, m_remove, m_list}) {
      cmd->add_flag("--json", m_common.json, "Print a machine-readable summary");
      cmd->add_option("--guests-dir", m_dir, std::string("The guest registry (default: ") + k_default_guests_dir + ")");
    }
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_dir);
    const std::string dir = m_dir.empty() ? guests_dir() : m_dir;
    if (m_list->parsed()) {
      return list(dir);
    }
    auto r = std::make_unique<GuestChangeReport>();
    r->guest.name = m_name;
    r->guest.file = dir + "/" + m_name + ".yaml";
    if (m_remove->parsed()) {
      r->action = "remove";
      if (!remove_guest(dir, m_name)) {
        throw ConfigError("no guest " + m_name + " is registered in " + dir);
      }
      return r;
    }
    r->action = "add";
    make_absolute(m_root);
    make_absolute(m_policy);
    r->guest.root = m_root;
    r->guest.policy = m_policy;
    add_guest(dir, r->guest);
    r->guest = load_guest_file(r->guest.file);
    return r;
  }

private:
  [[nodiscard]] std::unique_ptr<Report>
  list(const std::string& dir) const
  {
    auto r = std::make_unique<GuestListReport>();
    r->guests_dir = dir;
    CliReporter reporter(Progress::hidden);
    GuestRegistry registry = load_guests(dir);
    for (const auto& e : registry.errors) {
      reporter.error(e);
    }
    r->errors = std::move(registry.errors);
    r->guests = guest_infos(registry.guests, m_common.policy, reporter);
    return r;
  }

  CLI::App* m_add = nullptr;
  CLI::App* m_remove = nullptr;
  CLI::App* m_list = nullptr;
  std::string m_dir;
  std::string m_name;
  std::string m_root;
  std::string m_policy;
};

}  // namespace

json
GuestChangeReport::to_json() const
{
  json j;
  j["command"] = "guest " + action;
  j["name"] = guest.name;
  j["file"] = guest.file;
  if (action == "add") {
    j["root"] = guest.root;
    j["policy"] = guest.policy.empty() ? json(nullptr) : json(guest.policy);
  }
  return j;
}

void
GuestChangeReport::print_text(std::ostream& out) const
{
  if (action == "remove") {
    out << "removed guest " << guest.name << " (" << guest.file << ")\n";
    return;
  }
  out << "registered guest " << guest.name << ": root " << guest.root;
  if (!guest.policy.empty()) {
    out << ", policy " << guest.policy;
  }
  out << " (" << guest.file << ")\n";
}

int
GuestChangeReport::exit_status() const
{
  return k_exit_ok;
}

json
GuestListReport::to_json() const
{
  json j;
  j["command"] = "guest list";
  j["guests_dir"] = guests_dir;
  j["guests"] = json::array();
  for (const auto& g : guests) {
    const GuestEntry& e = g.entry;
    j["guests"].push_back({{"name", e.name},
                           {"root", e.root},
                           {"policy", e.policy.empty() ? json(nullptr) : json(e.policy)},
                           {"file", e.file},
                           {"root_exists", g.root_exists},
                           {"store", g.store.empty() ? json(nullptr) : json(g.store)},
                           {"store_exists", g.store_exists},
                           {"unified_files", g.unified_files},
                           {"unified_bytes", g.unified_bytes},
                           {"saved_bytes", g.saved_bytes},
                           {"agent", agent_state(g)},
                           {"agent_socket", guest_agent_socket(e.name)},
                           {"warnings", g.warnings}});
  }
  j["errors"] = errors;
  return j;
}

void
GuestListReport::print_text(std::ostream& out) const
{
  if (guests.empty() && errors.empty()) {
    out << "no guests registered in " << guests_dir << '\n';
  }
  for (const auto& g : guests) {
    out << g.entry.name << ": " << g.entry.root;
    if (!g.entry.policy.empty()) {
      out << " (policy " << g.entry.policy << ')';
    }
    out << "\n  " << g.unified_files << " files unified, " << human_bytes(static_cast<double>(g.unified_bytes))
        << " shared, saves " << human_bytes(static_cast<double>(g.saved_bytes));
    if (!g.store.empty()) {
      out << " (store " << g.store << (g.store_exists ? "" : ", not made yet") << ')';
    }
    out << "; agent " << agent_state(g) << '\n';
    for (const auto& w : g.warnings) {
      out << "  warning: " << w << '\n';
    }
  }
}

int
GuestListReport::exit_status() const
{
  return errors.empty() ? k_exit_ok : k_exit_failures;
}

std::unique_ptr<Command>
make_guest_command()
{
  return std::make_unique<GuestCommand>();
}

}  // namespace pkgunify::cli
