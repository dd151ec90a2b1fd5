// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/store.hpp"

#include "cli/commands/commands.hpp"

#include <ostream>

namespace pkgunify::cli {

namespace {

// The fields every store command's JSON starts with.
json
store_json(std::string_view action, const std::string& store)
{
  json j;
  j["command"] = "store " + std::string(action);
  j["store"] = store;
  return j;
}

std::string
bytes(std::uint64_t n)
{
  return human_bytes(static_cast<double>(n));
}

class StoreCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("store", "Inspect and maintain the hash store");
    m_cmd->require_subcommand(1);
    m_stats = m_cmd->add_subcommand("stats", "Objects, links and bytes saved");
    m_fsck = m_cmd->add_subcommand("fsck", "Re-hash every object and report mismatches");
    m_gc = m_cmd->add_subcommand("gc", "Remove objects no guest links to");
    m_unprotect = m_cmd->add_subcommand(
      "unprotect",
      "Clear the immutable flag of every object (they stay shared): for package managers without the hooks");
    for (auto* cmd : {m_stats, m_fsck, m_gc, m_unprotect}) {
      add_common_options(*cmd, m_common, StoreOption::with);
    }
    m_unprotect->add_flag("--dry-run,-n", m_dry_run, "Only report what would change");
    m_fsck->add_flag("--repair", m_repair, "Move corrupt objects to STORE/quarantine");
    m_fsck->add_option("--jobs,-j", m_common.jobs, "Hashing threads")->check(CLI::Range(1, 1024));
    m_gc->add_flag("--dry-run,-n", m_dry_run, "Only report what would be removed");
    m_stats->add_flag("--memory", m_memory, "Estimate the page cache the shared objects save right now");
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_common.store);
    const Store store = open_policy_and_store(m_common, {}).store;
    CliReporter reporter(Progress::hidden);
    if (m_stats->parsed()) {
      auto r = std::make_unique<StoreStatsReport>();
      r->store = store.path();
      if (m_memory) {
        r->memory.emplace();
      }
      r->stats = store_stats(store, reporter, r->memory ? &*r->memory : nullptr);
      return r;
    }
    if (m_fsck->parsed()) {
      auto r = std::make_unique<StoreFsckReport>();
      r->store = store.path();
      r->repair = m_repair;
      r->result = store_fsck(store, m_repair, m_common.jobs, reporter);
      return r;
    }
    if (m_unprotect->parsed()) {
      auto r = std::make_unique<StoreUnprotectReport>();
      r->store = store.path();
      r->dry_run = m_dry_run;
      r->result = store_unprotect(store, m_dry_run, reporter);
      return r;
    }
    auto r = std::make_unique<StoreGcReport>();
    r->store = store.path();
    r->dry_run = m_dry_run;
    r->result = store_gc(store, m_dry_run, reporter);
    return r;
  }

private:
  CLI::App* m_stats = nullptr;
  CLI::App* m_fsck = nullptr;
  CLI::App* m_gc = nullptr;
  CLI::App* m_unprotect = nullptr;
  bool m_dry_run = false;
  bool m_repair = false;
  bool m_memory = false;
};

}  // namespace

json
StoreStatsReport::to_json() const
{
  json j = store_json("stats", store);
  j["objects"] = stats.objects;
  j["successors"] = stats.successors;
  j["links"] = stats.links;
  j["bytes_stored"] = stats.bytes_stored;
  j["bytes_saved"] = stats.bytes_saved;
  j["unreferenced"] = stats.unreferenced;
  j["unreferenced_bytes"] = stats.unreferenced_bytes;
  j["stray"] = stats.stray;
  if (memory) {
    j["memory"] = {{"estimate", true},
                   {"method", memory->method},
                   {"resident_bytes", memory->resident_bytes},
                   {"saved_bytes", memory->saved_bytes}};
  }
  return j;
}

void
StoreStatsReport::print_text(std::ostream& out) const
{
  const StoreStats& s = stats;
  out << store << ": " << s.objects << " objects (" << s.successors << " successors), " << s.links << " links, "
      << bytes(s.bytes_stored) << " stored, " << bytes(s.bytes_saved) << " saved, " << s.unreferenced
      << " unreferenced (" << bytes(s.unreferenced_bytes) << ")\n";
  if (memory) {
    out << "page cache (estimate, " << memory->method << "): objects hold " << bytes(memory->resident_bytes)
        << " resident; without sharing the guests would hold " << bytes(memory->saved_bytes) << " more\n";
  }
}

int
StoreStatsReport::exit_status() const
{
  return k_exit_ok;
}

json
StoreFsckReport::to_json() const
{
  json j = store_json("fsck", store);
  j["checked"] = result.checked;
  j["corrupt"] = result.corrupt;
  j["quarantined"] = result.quarantined;
  j["stray"] = result.stray;
  j["bytes_read"] = result.bytes_read;
  j["errors"] = result.errors;
  return j;
}

void
StoreFsckReport::print_text(std::ostream& out) const
{
  out << store << ": " << result.checked << " objects checked, " << result.corrupt << " corrupt";
  if (repair) {
    out << ", " << result.quarantined << " quarantined";
  }
  out << ", " << result.stray << " stray entries\n";
}

int
StoreFsckReport::exit_status() const
{
  return (result.corrupt > result.quarantined || result.errors) ? k_exit_failures : k_exit_ok;
}

json
StoreGcReport::to_json() const
{
  json j = store_json("gc", store);
  j["dry_run"] = dry_run;
  j["removed"] = result.removed;
  j["bytes_freed"] = result.bytes_freed;
  j["kept"] = result.kept;
  j["errors"] = result.errors;
  return j;
}

void
StoreGcReport::print_text(std::ostream& out) const
{
  out << store << ": " << result.removed << (dry_run ? " objects would be removed (" : " objects removed (")
      << bytes(result.bytes_freed) << "), " << result.kept << " kept\n";
}

int
StoreGcReport::exit_status() const
{
  return result.errors ? k_exit_failures : k_exit_ok;
}

json
StoreUnprotectReport::to_json() const
{
  json j = store_json("unprotect", store);
  j["dry_run"] = dry_run;
  j["lifted"] = result.lifted;
  j["unchanged"] = result.unchanged;
  j["errors"] = result.errors;
  return j;
}

void
StoreUnprotectReport::print_text(std::ostream& out) const
{
  out << store << ": " << result.lifted << (dry_run ? " objects would be made writable, " : " objects made writable, ")
      << result.unchanged << " unchanged\n";
}

int
StoreUnprotectReport::exit_status() const
{
  return result.errors ? k_exit_failures : k_exit_ok;
}

std::unique_ptr<Command>
make_store_command()
{
  return std::make_unique<StoreCommand>();
}

}  // namespace pkgunify::cli
