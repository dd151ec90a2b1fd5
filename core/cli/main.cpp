// The pkgunify command: a thin front end over the core library.
//
// Exit status: 0 all went well; 1 some files (or objects) failed, each named
// on stderr; 2 usage or configuration error.
#include "cli/common.hpp"
#include "sys/exceptions.hpp"
#include "cli/hook_commands.hpp"
#include "engine/hooks.hpp"
#include "maintenance/maintenance.hpp"
#include "cli/pkg_commands.hpp"
#include "engine/policy.hpp"
#include "engine/scanner.hpp"
#include "guest/split.hpp"
#include "store/store.hpp"
#include "sys/fs.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>

namespace {

using namespace pkgunify;
using namespace pkgunify::cli;

int
cmd_scan(const CommonOptions& o, const std::vector<std::string>& roots, const ScanFlags& flags)
{
  // Every database is read before anything changes, the store included: a
  // corrupt one stops the run with nothing touched.
  const bool only_packaged = load_effective_policy(o).only_packaged;
  std::vector<std::shared_ptr<const PackageFilter>> filters;
  for (const auto& r : roots) {
    filters.push_back(package_filter(o, r, only_packaged));
  }
  ScanSetup setup = prepare_scan(o, flags, roots);
  CliReporter reporter(!o.json);
  setup.opt.progress = [&reporter](const ScanStats& s, std::uint64_t done, std::uint64_t total) {
    reporter.progress(s, done, total);
  };
  Unifier unifier(setup.store, setup.opt, reporter);
  std::vector<std::size_t> ids;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    ids.push_back(unifier.add_root(roots[i], filters[i]));
  }
  for (const auto id : ids) {
    unifier.add_tree(id);
  }
  const ScanStats s = unifier.run();
  reporter.done();
  json extra;
  extra["roots"] = roots;
  return report_scan(o, "scan", setup, s, extra);
}

int
cmd_split(const CommonOptions& o, const std::vector<std::string>& paths, bool dry_run, std::string_view verb)
{
  CliReporter reporter(false);
  std::uint64_t split = 0;
  std::uint64_t not_shared = 0;
  std::uint64_t failed = 0;
  for (const auto& p : paths) {
    switch (split_path(p, dry_run, reporter)) {
    case SplitResult::split:
      ++split;
      break;
    case SplitResult::not_shared:
      ++not_shared;
      break;
    case SplitResult::failed:
      ++failed;
      break;
    }
  }
  if (o.json) {
    json j;
    j["command"] = verb;
    j["dry_run"] = dry_run;
    j[std::string(verb == "split" ? "split" : "released")] = split;
    j["not_shared"] = not_shared;
    j["errors"] = failed;
    std::cout << json_text(j) << '\n';
  } else {
    const std::string done = verb == "split" ? "split" : "released";
    std::cout << split << (dry_run ? " would be " + done + ", " : " " + done + ", ") << not_shared << " not shared";
    if (failed) {
      std::cout << ", " << failed << " failed";
    }
    std::cout << '\n';
  }
  return failed ? k_exit_failures : k_exit_ok;
}

int
cmd_status(const CommonOptions& o, const std::vector<std::string>& roots, bool files)
{
  const Policy policy = load_effective_policy(o);
  const Store store = open_store(o, policy, roots, false);
  CliReporter reporter(false);
  json file_list = json::array();
  FileModeFn each;
  if (files) {
    each = [&](const std::string& root, const std::string& path, std::string_view mode) {
      if (o.json) {
        file_list.push_back({{"root", root}, {"path", path}, {"mode", mode}});
      } else {
        std::cout << mode << '\t' << sys::join_display(root, path) << '\n';
      }
    };
  }
  const auto status = root_status(store, policy, roots, reporter, each);
  if (o.json) {
    json j;
    j["command"] = "status";
    j["store"] = store.path();
    j["roots"] = json::array();
    for (const auto& s : status) {
      json modes = json::object();
      for (const auto& [mode, n] : s.modes) {
        modes[mode] = n;
      }
      j["roots"].push_back({{"root", s.root},
                            {"modes", modes},
                            {"files", s.files},
                            {"bytes", s.bytes},
                            {"candidates", s.candidates},
                            {"candidate_bytes", s.candidate_bytes},
                            {"unified_files", s.unified_files},
                            {"unified_bytes", s.unified_bytes},
                            {"saved_bytes", s.saved_bytes}});
    }
    if (files) {
      j["files"] = file_list;
    }
    std::cout << json_text(j) << '\n';
    return k_exit_ok;
  }
  for (const auto& s : status) {
    const double pct =
      s.candidates ? 100.0 * static_cast<double>(s.unified_files) / static_cast<double>(s.candidates) : 0.0;
    std::cout << s.root << ": " << s.unified_files << " of " << s.candidates << " candidate files unified ("
              << static_cast<int>(pct) << "%), " << human_bytes(static_cast<double>(s.unified_bytes))
              << " shared, saves " << human_bytes(static_cast<double>(s.saved_bytes)) << " (" << s.files << " files, "
              << human_bytes(static_cast<double>(s.bytes)) << " in all)";
    for (const auto& [mode, n] : s.modes) {
      std::cout << ", " << n << ' ' << mode;
    }
    std::cout << '\n';
  }
  return k_exit_ok;
}

int
cmd_store(const CommonOptions& o, const std::string& action, bool repair, bool dry_run, bool memory)
{
  const Policy policy = load_effective_policy(o);
  const Store store = open_store(o, policy, {}, false);
  CliReporter reporter(false);
  json j;
  j["command"] = "store " + action;
  j["store"] = store.path();
  int rc = k_exit_ok;
  if (action == "stats") {
    MemoryStats mem;
    const StoreStats s = store_stats(store, reporter, memory ? &mem : nullptr);
    j["objects"] = s.objects;
    j["successors"] = s.successors;
    j["links"] = s.links;
    j["bytes_stored"] = s.bytes_stored;
    j["bytes_saved"] = s.bytes_saved;
    j["unreferenced"] = s.unreferenced;
    j["unreferenced_bytes"] = s.unreferenced_bytes;
    j["stray"] = s.stray;
    if (memory) {
      j["memory"] = {{"estimate", true},
                     {"method", mem.method},
                     {"resident_bytes", mem.resident_bytes},
                     {"saved_bytes", mem.saved_bytes}};
    }
    if (!o.json) {
      std::cout << store.path() << ": " << s.objects << " objects (" << s.successors << " successors), " << s.links
                << " links, " << human_bytes(static_cast<double>(s.bytes_stored)) << " stored, "
                << human_bytes(static_cast<double>(s.bytes_saved)) << " saved, " << s.unreferenced << " unreferenced ("
                << human_bytes(static_cast<double>(s.unreferenced_bytes)) << ")\n";
      if (memory) {
        std::cout << "page cache (estimate, " << mem.method << "): objects hold "
                  << human_bytes(static_cast<double>(mem.resident_bytes)) << " resident; without sharing the guests "
                  << "would hold " << human_bytes(static_cast<double>(mem.saved_bytes)) << " more\n";
      }
    }
  } else if (action == "fsck") {
    const FsckResult r = store_fsck(store, repair, o.jobs, reporter);
    j["checked"] = r.checked;
    j["corrupt"] = r.corrupt;
    j["quarantined"] = r.quarantined;
    j["stray"] = r.stray;
    j["bytes_read"] = r.bytes_read;
    j["errors"] = r.errors;
    if (!o.json) {
      std::cout << store.path() << ": " << r.checked << " objects checked, " << r.corrupt << " corrupt";
      if (repair) {
        std::cout << ", " << r.quarantined << " quarantined";
      }
      std::cout << ", " << r.stray << " stray entries\n";
    }
    rc = (r.corrupt > r.quarantined || r.errors) ? k_exit_failures : k_exit_ok;
  } else if (action == "unprotect") {
    const UnprotectResult r = store_unprotect(store, dry_run, reporter);
    j["dry_run"] = dry_run;
    j["lifted"] = r.lifted;
    j["unchanged"] = r.unchanged;
    j["errors"] = r.errors;
    if (!o.json) {
      std::cout << store.path() << ": " << r.lifted
                << (dry_run ? " objects would be made writable, " : " objects made writable, ") << r.unchanged
                << " unchanged\n";
    }
    rc = r.errors ? k_exit_failures : k_exit_ok;
  } else {
    const GcResult r = store_gc(store, dry_run, reporter);
    j["dry_run"] = dry_run;
    j["removed"] = r.removed;
    j["bytes_freed"] = r.bytes_freed;
    j["kept"] = r.kept;
    j["errors"] = r.errors;
    if (!o.json) {
      std::cout << store.path() << ": " << r.removed << (dry_run ? " objects would be removed (" : " objects removed (")
                << human_bytes(static_cast<double>(r.bytes_freed)) << "), " << r.kept << " kept\n";
    }
    rc = r.errors ? k_exit_failures : k_exit_ok;
  }
  if (o.json) {
    std::cout << json_text(j) << '\n';
  }
  return rc;
}

}  // namespace

int
main(int argc, char** argv)
{
  CLI::App app{"pkgunify: unify identical files of many guest roots into a hash store"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pkgunify 0.1.0");

  CommonOptions common;
  ScanFlags flags;
  bool& dry_run = flags.dry_run;
  bool repair = false;
  bool files = false;
  bool memory = false;
  std::vector<std::string> roots;
  std::vector<std::string> paths;
  std::string root;
  std::vector<std::string> packages;

  auto add_common = [&](CLI::App* cmd, bool with_store) {
    if (with_store) {
      cmd->add_option("--store", common.store, "Hash store directory (overrides the policy)");
    }
    cmd->add_option("--policy", common.policy, "Policy file (default: /etc/pkgunify/pkgunify.yaml if present)");
    cmd->add_flag("--json", common.json, "Print a machine-readable summary");
  };
  auto add_db = [&](CLI::App* cmd) {
    cmd->add_option("--db", common.db, "Package database of the roots: auto (detect), rpm, dpkg, none")
      ->check(CLI::IsMember({"auto", "rpm", "dpkg", "none"}));
  };
  auto add_scan_flags = [&](CLI::App* cmd) {
    add_common(cmd, true);
    add_db(cmd);
    cmd->add_flag("--dry-run,-n", flags.dry_run, "Change nothing; report what would change");
    cmd->add_option("--jobs,-j", common.jobs, "Hashing threads (default: one per core)")->check(CLI::Range(1, 1024));
    cmd->add_option("--create", flags.create, "How objects are made (overrides the policy)")
      ->check(CLI::IsMember(k_create_mode_names.names()));
    cmd->add_option("--min-size", flags.min_size, "Smallest file to unify, in bytes (overrides the policy)");
    cmd->add_flag("--ignore-mtime", flags.ignore_mtime, "Share files that differ only in mtime");
    cmd
      ->add_option("--link", flags.link,
                   "Link mode (overrides the policy): auto, iunlink, immutable, reflink, hardlink")
      ->check(CLI::IsMember(k_link_mode_names.names()));
  };

  auto* scan = app.add_subcommand("scan", "Unify the files of guest roots");
  add_scan_flags(scan);
  scan->add_option("ROOT", roots, "Guest root directories")->required();

  auto* pkg = app.add_subcommand("pkg", "Unify exactly the files of the named installed packages of a root");
  add_scan_flags(pkg);
  pkg->add_option("--root", root, "Guest root directory")->required();
  pkg->add_option("PACKAGE", packages, "Installed package names")->required();

  auto* list =
    app.add_subcommand("list", "Show each file of a root's packages: config or not, candidate or not, and why");
  add_common(list, false);
  add_db(list);
  list->add_option("--root", root, "Guest root directory")->required();
  list->add_option("PACKAGE", packages, "Installed package names (default: all)");

  auto* inspect = app.add_subcommand("inspect", "Show which files of .rpm or .deb package files would be unified");
  add_common(inspect, false);
  inspect->add_option("FILE", paths, "Package files (.rpm, .deb)")->required();

  auto* verify =
    app.add_subcommand("verify", "Compare the unified files of roots with their package database's digests");
  add_common(verify, true);
  add_db(verify);
  verify->add_option("ROOT", roots, "Guest root directories")->required();

  HookOptions hook;
  auto add_hook = [&](CLI::App* cmd) {
    add_common(cmd, false);
    cmd->add_option("--root", hook.root, "Root of the package database (default: $DPKG_ROOT, else /)");
    cmd->add_flag("--hook", hook.hook, "Run as a package-manager hook: report problems, always exit 0");
    cmd->add_option("--log", hook.log, "With --hook, also append messages to this file")
      ->default_val("/var/log/pkgunify.log");
  };
  auto* sync = app.add_subcommand("sync", "Unify the files of the packages that changed since the last sync of a root");
  add_hook(sync);
  add_db(sync);
  sync->add_option("--state-dir", hook.state_dir, "Where sync remembers roots (default: /var/lib/pkgunify/sync)");
  auto* dpkg_release = app.add_subcommand(
    "dpkg-release", "Before a dpkg run: release the protected unified files of the packages it will change");
  add_hook(dpkg_release);

  bool check_only = false;
  auto* unify_files = app.add_subcommand(
    "unify-files", "Unify the files a transaction installed, listed on standard input (the rpm plugin's worker)");
  add_hook(unify_files);
  unify_files->add_flag("--check", check_only,
                        "Only check the policy and link mode; a success is remembered until they change");

  auto* wait = app.add_subcommand("wait", "Wait until the background unification of a root (rpm plugin) is done");
  wait->add_option("--root", hook.root, "Root (default: /)");

  auto* split = app.add_subcommand("split", "Give unified guest paths their private copy again");
  split->add_flag("--json", common.json, "Print a machine-readable summary");
  split->add_flag("--dry-run,-n", dry_run, "Change nothing");
  split->add_option("PATH", paths, "Files (absolute host paths)")->required();

  auto* release = app.add_subcommand("release", "Turn unified guest paths into private, writable files "
                                                "(lifting protection) before a package manager replaces them");
  release->add_flag("--json", common.json, "Print a machine-readable summary");
  release->add_flag("--dry-run,-n", dry_run, "Change nothing");
  release->add_option("PATH", paths, "Files (absolute host paths)")->required();

  auto* status = app.add_subcommand("status", "Show how much of each root is unified, and in which link mode");
  add_common(status, true);
  status->add_flag("--files", files, "List every unified file with its mode");
  status->add_option("ROOT", roots, "Guest root directories")->required();

  auto* store = app.add_subcommand("store", "Inspect and maintain the hash store");
  store->require_subcommand(1);
  auto* stats = store->add_subcommand("stats", "Objects, links and bytes saved");
  auto* fsck = store->add_subcommand("fsck", "Re-hash every object and report mismatches");
  auto* gc = store->add_subcommand("gc", "Remove objects no guest links to");
  auto* unprotect = store->add_subcommand(
    "unprotect", "Clear the immutable flag of every object (they stay shared): for package managers without the hooks");
  for (auto* cmd : {stats, fsck, gc, unprotect}) {
    add_common(cmd, true);
  }
  unprotect->add_flag("--dry-run,-n", dry_run, "Only report what would change");
  fsck->add_flag("--repair", repair, "Move corrupt objects to STORE/quarantine");
  fsck->add_option("--jobs,-j", common.jobs, "Hashing threads")->check(CLI::Range(1, 1024));
  gc->add_flag("--dry-run,-n", dry_run, "Only report what would be removed");
  stats->add_flag("--memory", memory, "Estimate the page cache the shared objects save right now");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return k_exit_usage;
  }

  raise_fd_limit();
  // Paths from the command line may be relative to the working directory.
  auto absolute = [](std::string& p) {
    if (!p.empty() && p.front() != '/') {
      p = std::filesystem::absolute(p).lexically_normal().string();
    }
  };
  absolute(common.store);
  absolute(root);
  absolute(hook.root);
  for (auto& p : paths) {
    absolute(p);
  }
  for (auto& r : roots) {
    absolute(r);
  }
  try {
    if (scan->parsed()) {
      return cmd_scan(common, roots, flags);
    }
    if (wait->parsed()) {
      wait_for_background(hook.root.empty() ? "/" : hook.root);
      return k_exit_ok;
    }
    if (sync->parsed()) {
      return cmd_sync(common, hook);
    }
    if (unify_files->parsed()) {
      return cmd_unify_files(common, hook, check_only);
    }
    if (dpkg_release->parsed()) {
      return cmd_dpkg_release(common, hook);
    }
    if (pkg->parsed()) {
      return cmd_pkg(common, root, packages, flags);
    }
    if (list->parsed()) {
      return cmd_list(common, root, packages);
    }
    if (inspect->parsed()) {
      return cmd_inspect(common, paths);
    }
    if (verify->parsed()) {
      return cmd_verify(common, roots);
    }
    if (split->parsed()) {
      return cmd_split(common, paths, dry_run, "split");
    }
    if (release->parsed()) {
      return cmd_split(common, paths, dry_run, "release");
    }
    if (status->parsed()) {
      return cmd_status(common, roots, files);
    }
    for (auto* cmd : {stats, fsck, gc, unprotect}) {
      if (cmd->parsed()) {
        return cmd_store(common, cmd->get_name(), repair, dry_run, memory);
      }
    }
  } catch (const ConfigError& e) {
    std::cerr << "pkgunify: " << e.what() << '\n';
    return k_exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "pkgunify: error: " << e.what() << '\n';
    return k_exit_failures;
  }
  return k_exit_usage;
}
