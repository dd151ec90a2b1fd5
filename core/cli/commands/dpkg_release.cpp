// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/dpkg_release.hpp"

#include "cli/commands/commands.hpp"
#include "cli/hook_common.hpp"
#include "engine/packages.hpp"
#include "guest/dpkg_caller.hpp"
#include "guest/split.hpp"
#include "pkgdb/debfile.hpp"
#include "pkgdb/pkgdb.hpp"

#include <filesystem>
#include <set>

namespace pkgunify::cli {

namespace {

// dpkg -R takes the files ending in .deb below each directory.
void
add_debs_below(const std::string& dir, std::vector<std::string>& debs)
{
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".deb" && it->is_regular_file(ec)) {
      debs.push_back(it->path().string());
    }
  }
}

// What a dpkg run with `args` is about to change: the .deb files named on
// its command line (install, unpack; apt passes them the same way) and the
// packages it removes or purges.
std::set<std::string>
packages_changing(const std::vector<std::string>& args, Reporter& reporter)
{
  std::set<std::string> names;
  bool removing = false;
  bool installing = false;
  bool recursive = false;  // -R: the arguments of -i/--unpack are directories of .deb files
  std::vector<std::string> debs;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-R" || a == "--recursive") {
      recursive = true;
    } else if (a == "-i" || a == "--install" || a == "--unpack") {
      installing = true;
      removing = false;
    } else if (a == "-r" || a == "--remove" || a == "-P" || a == "--purge") {
      removing = true;
      installing = false;
    } else if (!a.empty() && a[0] == '-') {
      if (a == "--configure" || a == "--triggers-only" || a.starts_with("--verify") || a == "-V") {
        installing = removing = false;
      }
    } else if (installing && recursive) {
      add_debs_below(a, debs);
    } else if (installing && a.ends_with(".deb")) {
      debs.push_back(a);
    } else if (removing) {
      names.insert(a);
    }
  }
  for (const auto& deb : debs) {
    try {
      names.insert(read_deb(deb).name);
    } catch (const std::exception& e) {
      reporter.warning(e.what());
    }
  }
  return names;
}

// Releases the protected unified files (config files apart) of the packages
// `names` of `root`; returns how many.
std::uint64_t
release_packages(const std::string& root, const std::set<std::string>& names, Reporter& reporter)
{
  auto db = open_dpkg_db(root);
  std::vector<std::string> missing;  // new packages: nothing to release
  RootPaths paths(root);
  std::uint64_t released = 0;
  for (const auto& p : db->packages({names.begin(), names.end()}, missing)) {
    for (const auto& f : p.files) {
      if (f.config) {
        continue;
      }
      const auto canon = paths.canonical(f.path);
      if (!canon) {
        continue;
      }
      const std::string full = paths.real_root() == "/" ? *canon : paths.real_root() + *canon;
      if (release_if_protected(full, DirResolution::no_symlinks, reporter) == ReleaseResult::released) {
        ++released;
      }
    }
  }
  return released;
}

class DpkgReleaseCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("dpkg-release",
                               "Before a dpkg run: release the protected unified files of the packages it will change");
    add_hook_options(*m_cmd, m_common, m_hook);
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_hook.root);
    return run_hook(m_hook, [this](HookReporter& reporter) -> std::unique_ptr<Report> {
      const std::string root = hook_root(m_hook);
      // dpkg -> sh -c -> pkgunify (guest/dpkg_caller.hpp); no dpkg above: nothing to do.
      const auto caller = find_dpkg_caller();
      const std::set<std::string> names = caller ? packages_changing(caller->argv, reporter) : std::set<std::string>{};
      if (names.empty()) {
        return std::make_unique<SilentReport>(k_exit_ok);
      }
      auto report = std::make_unique<DpkgReleaseReport>();
      report->root = root;
      report->packages.assign(names.begin(), names.end());
      report->released = release_packages(root, names, reporter);
      report->errors = reporter.errors;
      return report;
    });
  }

private:
  HookOptions m_hook;
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
