// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/inspect.hpp"

#include "cli/commands/commands.hpp"
#include "pkgdb/debfile.hpp"
#include "pkgdb/rpmdb.hpp"
#include "sys/exceptions.hpp"

#include <sys/stat.h>

#include <ostream>

namespace pkgunify::cli {

namespace {

InspectedPackage
inspect_package(const Policy& policy, const std::string& file)
{
  const bool rpm = file.ends_with(".rpm");
  if (!rpm && !file.ends_with(".deb")) {
    throw ConfigError(file + ": not a package file (expected .rpm or .deb)");
  }
  const ArchiveInfo info = rpm ? read_rpm_file(file) : read_deb(file);
  InspectedPackage out;
  out.file = file;
  out.format = rpm ? "rpm" : "deb";
  out.name = info.name;
  out.version = info.version;
  out.arch = info.arch;
  PackageFilter filter;
  filter.source = "package " + info.name;
  for (const auto& e : info.entries) {
    if (e.config) {
      filter.config.insert(e.path);
    }
  }
  for (const auto& e : info.entries) {
    struct stat st = {};
    st.st_mode = e.regular ? (S_IFREG | (e.mode & 07777)) : (e.mode ? e.mode : S_IFDIR);
    st.st_size = static_cast<off_t>(e.size);
    const auto verdict = candidate_verdict(policy, &filter, e.path, st);
    if (!verdict) {
      ++out.unified_files;
      out.unified_bytes += e.size;
    }
    if (verdict && verdict->key == "not-regular" && S_ISDIR(st.st_mode)) {
      continue;
    }
    out.entries.push_back({.path = e.path,
                           .size = e.size,
                           .config = e.config,
                           .unified = !verdict,
                           .reason = verdict ? verdict->detail : "would be unified"});
  }
  return out;
}

class InspectCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("inspect", "Show which files of .rpm or .deb package files would be unified");
    add_common_options(*m_cmd, m_common, StoreOption::without);
    m_cmd->add_option("FILE", m_files, "Package files (.rpm, .deb)")->required();
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_files);
    const Policy policy = load_run_policy(m_common.policy);
    auto report = std::make_unique<InspectReport>();
    try {
      for (const auto& file : m_files) {
        report->packages.push_back(inspect_package(policy, file));
      }
    } catch (...) {
      report->fail(std::current_exception());
    }
    return report;
  }

private:
  std::vector<std::string> m_files;
};

}  // namespace

json
InspectReport::to_json() const
{
  json jpackages = json::array();
  for (const auto& p : packages) {
    json jfiles = json::array();
    for (const auto& e : p.entries) {
      jfiles.push_back(
        {{"path", e.path}, {"size", e.size}, {"config", e.config}, {"unified", e.unified}, {"reason", e.reason}});
    }
    jpackages.push_back({{"file", p.file},
                         {"format", p.format},
                         {"name", p.name},
                         {"version", p.version},
                         {"arch", p.arch},
                         {"unified_files", p.unified_files},
                         {"unified_bytes", p.unified_bytes},
                         {"files", std::move(jfiles)}});
  }
  json j;
  j["command"] = "inspect";
  j["packages"] = std::move(jpackages);
  return j;
}

void
InspectReport::print_text(std::ostream& out) const
{
  for (const auto& p : packages) {
    out << p.file << ": " << p.name << ' ' << p.version << ' ' << p.arch << '\n';
    for (const auto& e : p.entries) {
      out << "  " << (e.unified ? "unify  " : (e.config ? "config " : "keep   ")) << e.path << "  (" << e.reason
          << ")\n";
    }
    out << "  " << p.unified_files << " files (" << human_bytes(static_cast<double>(p.unified_bytes))
        << ") would be unified\n";
  }
}

int
InspectReport::exit_status() const
{
  return k_exit_ok;
}

std::unique_ptr<Command>
make_inspect_command()
{
  return std::make_unique<InspectCommand>();
}

}  // namespace pkgunify::cli
