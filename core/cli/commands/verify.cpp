// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/verify.hpp"

#include "cli/commands/commands.hpp"

#include <ostream>

namespace pkgunify::cli {

namespace {

class VerifyCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("verify", "Compare the unified files of roots with their package database's digests");
    add_common_options(*m_cmd, m_common, StoreOption::with);
    add_db_option(*m_cmd, m_common);
    m_cmd->add_option("ROOT", m_roots, "Guest root directories")->required();
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_common.store);
    make_absolute(m_roots);
    const auto [policy, store] = open_policy_and_store(m_common, m_roots);
    CliReporter reporter(Progress::hidden);
    // Every database is opened before anything is hashed.
    std::vector<std::unique_ptr<PackageDb>> dbs;
    for (const auto& r : m_roots) {
      dbs.push_back(open_db(m_common, r, DbNeed::required));
    }
    auto report = std::make_unique<VerifyReport>();
    report->store = store.path();
    try {
      for (std::size_t i = 0; i < m_roots.size(); ++i) {
        report->roots.push_back(
          VerifiedRoot{m_roots[i], std::string(dbs[i]->kind()), verify_root(store, *dbs[i], m_roots[i], reporter)});
      }
    } catch (...) {
      report->fail(std::current_exception());
    }
    return report;
  }

private:
  std::vector<std::string> m_roots;
};

}  // namespace

json
VerifyReport::to_json() const
{
  json jroots = json::array();
  for (const auto& [root, kind, r] : roots) {
    jroots.push_back({{"root", root},
                      {"package_db", kind},
                      {"checked", r.checked},
                      {"mismatches", r.mismatches},
                      {"not_unified", r.not_unified},
                      {"config", r.config},
                      {"no_digest", r.no_digest},
                      {"missing", r.missing},
                      {"bytes_read", r.bytes_read},
                      {"errors", r.errors}});
  }
  json j;
  j["command"] = "verify";
  j["store"] = store;
  j["roots"] = std::move(jroots);
  return j;
}

void
VerifyReport::print_text(std::ostream& out) const
{
  for (const auto& [root, kind, r] : roots) {
    out << root << ": " << r.checked << " unified files checked against the " << kind << " database, " << r.mismatches
        << " mismatches (" << r.not_unified << " not unified, " << r.config << " config files, " << r.missing
        << " missing)\n";
  }
}

int
VerifyReport::exit_status() const
{
  for (const auto& v : roots) {
    if (v.result.mismatches || v.result.errors) {
      return k_exit_failures;
    }
  }
  return k_exit_ok;
}

std::unique_ptr<Command>
make_verify_command()
{
  return std::make_unique<VerifyCommand>();
}

}  // namespace pkgunify::cli
