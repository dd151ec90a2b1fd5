// The pkgunify command: a thin front end over the core library.
//
// Exit status: 0 all went well; 1 some files (or objects) failed, each named
// on stderr; 2 usage or configuration error.
#include "exceptions.hpp"
#include "maintenance.hpp"
#include "policy.hpp"
#include "scanner.hpp"
#include "split.hpp"
#include "store.hpp"
#include "util/fs.hpp"

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
using json = nlohmann::ordered_json;

constexpr int k_exit_ok = 0;
constexpr int k_exit_failures = 1;
constexpr int k_exit_usage = 2;
constexpr const char* k_system_policy = "/etc/pkgunify/pkgunify.yaml";

class CliReporter : public Reporter
{
public:
  explicit CliReporter(bool show_progress) : m_progress(show_progress && ::isatty(STDERR_FILENO)) {}

  void
  error(std::string_view message) override
  {
    std::lock_guard lock(m_mu);
    clear_line();
    std::cerr << "pkgunify: error: " << message << '\n';
  }

  void
  warning(std::string_view message) override
  {
    std::lock_guard lock(m_mu);
    clear_line();
    std::cerr << "pkgunify: warning: " << message << '\n';
  }

  void
  progress(const ScanStats& s, std::uint64_t done, std::uint64_t total) override
  {
    if (!m_progress) {
      return;
    }
    std::lock_guard lock(m_mu);
    std::fprintf(stderr, "\r\033[K%llu/%llu files, %llu linked, %llu already, %.1f MiB read",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 static_cast<unsigned long long>(s.linked), static_cast<unsigned long long>(s.already_linked),
                 static_cast<double>(s.bytes_read) / (1 << 20));
    m_dirty = true;
  }

  void
  done()
  {
    std::lock_guard lock(m_mu);
    clear_line();
  }

private:
  void
  clear_line()
  {
    if (m_dirty) {
      std::fputs("\r\033[K", stderr);
      m_dirty = false;
    }
  }

  std::mutex m_mu;
  bool m_progress;
  bool m_dirty = false;
};

std::string
human_bytes(double bytes)
{
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  bool negative = bytes < 0;
  if (negative) {
    bytes = -bytes;
  }
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%s%.0f %s" : "%s%.1f %s", negative ? "-" : "", bytes, units[u]);
  return buf;
}

struct CommonOptions
{
  std::string store;
  std::string policy;
  bool json = false;
  unsigned jobs = 0;
};

Policy
load_effective_policy(const CommonOptions& o)
{
  if (!o.policy.empty()) {
    return load_policy(o.policy);
  }
  if (::access(k_system_policy, F_OK) == 0) {
    return load_policy(k_system_policy);
  }
  return default_policy();
}

std::string
store_path(const CommonOptions& o, const Policy& policy, const std::vector<std::string>& roots)
{
  std::string path = o.store;
  if (path.empty() && policy.store) {
    path = *policy.store;
  }
  if (path.empty()) {
    if (roots.empty()) {
      throw ConfigError("no store given: use --store DIR or 'store:' in the policy");
    }
    path = Store::default_location(roots.front());
  }
  return path;
}

Store
open_store(const CommonOptions& o, const Policy& policy, const std::vector<std::string>& roots, bool create)
{
  std::string path = o.store;
  if (path.empty() && policy.store) {
    path = *policy.store;
  }
  if (path.empty()) {
    if (roots.empty()) {
      throw ConfigError("no store given: use --store DIR or 'store:' in the policy");
    }
    path = Store::default_location(roots.front());
  }
  return Store::open(path, create);
}

void
raise_fd_limit()
{
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

json
scan_json(const ScanStats& s)
{
  json j;
  j["files_seen"] = s.files_seen;
  j["candidates"] = s.candidates;
  j["linked"] = s.linked;
  j["already_linked"] = s.already_linked;
  j["objects_created"] = s.objects_created;
  j["bytes_read"] = s.bytes_read;
  j["bytes_saved"] = s.bytes_saved;
  j["leftovers_cleaned"] = s.leftovers_cleaned;
  j["protection_fixed"] = s.protection_fixed;
  j["skipped"] = json::object();
  for (const auto& [reason, n] : s.skipped) {
    j["skipped"][reason] = n;
  }
  j["errors"] = s.errors;
  return j;
}

int
cmd_scan(const CommonOptions& o,
         const std::vector<std::string>& roots,
         bool dry_run,
         const std::optional<std::string>& create,
         const std::optional<std::uint64_t>& min_size,
         bool ignore_mtime,
         const std::optional<std::string>& link)
{
  ScanOptions opt;
  opt.policy = load_effective_policy(o);
  if (link) {
    opt.policy.link = *parse_link_mode(*link);
  }
  if (create) {
    opt.policy.create = *create == "adopt" ? CreateMode::adopt : CreateMode::copy;
  }
  if (min_size) {
    opt.policy.min_size = *min_size;
  }
  if (ignore_mtime) {
    opt.policy.ignore_mtime = true;
  }
  opt.dry_run = dry_run;
  opt.jobs = o.jobs;
  // A dry run never creates the store; without one it reports what a first
  // run would do.
  const std::string spath = store_path(o, opt.policy, roots);
  Store store = (dry_run && ::access(spath.c_str(), F_OK) != 0) ? Store::absent(spath)
                                                                 : Store::open(spath, !dry_run);
  const auto kernel = make_vserver_kernel();
  opt.link = resolve_link_mode(opt.policy, *kernel, store);
  CliReporter reporter(!o.json);
  Unifier unifier(store, opt, reporter);
  std::vector<std::size_t> ids;
  for (const auto& r : roots) {
    ids.push_back(unifier.add_root(r));
  }
  for (const auto id : ids) {
    unifier.add_tree(id);
  }
  const ScanStats s = unifier.run();
  reporter.done();
  if (o.json) {
    json j;
    j["command"] = "scan";
    j["store"] = store.path();
    j["roots"] = roots;
    j["dry_run"] = dry_run;
    j["create"] = to_string(opt.policy.create);
    j["link_mode"] = to_string(opt.link);
    j.update(scan_json(s));
    std::cout << j.dump(2) << '\n';
  } else {
    std::cout << (dry_run ? "dry run: nothing changed\n" : "") << s.files_seen << " files, " << s.candidates
              << " candidates: " << s.linked << (dry_run ? " would be linked, " : " linked, ") << s.already_linked
              << " already linked, " << s.objects_created << " new objects (link mode " << to_string(opt.link)
              << ")\n"
              << human_bytes(static_cast<double>(s.bytes_read)) << " read, "
              << human_bytes(static_cast<double>(s.bytes_saved)) << (dry_run ? " would be saved" : " saved");
    for (const auto& [reason, n] : s.skipped) {
      std::cout << ", " << n << " skipped (" << reason << ")";
    }
    std::cout << '\n';
    if (s.errors) {
      std::cout << s.errors << " files failed (see above)\n";
    }
  }
  return s.errors ? k_exit_failures : k_exit_ok;
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
    std::cout << j.dump(2) << '\n';
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
        std::cout << mode << '\t' << util::join_display(root, path) << '\n';
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
    std::cout << j.dump(2) << '\n';
    return k_exit_ok;
  }
  for (const auto& s : status) {
    const double pct = s.candidates ? 100.0 * static_cast<double>(s.unified_files) / static_cast<double>(s.candidates)
                                    : 0.0;
    std::cout << s.root << ": " << s.unified_files << " of " << s.candidates << " candidate files unified ("
              << static_cast<int>(pct) << "%), " << human_bytes(static_cast<double>(s.unified_bytes))
              << " shared, saves " << human_bytes(static_cast<double>(s.saved_bytes)) << " ("
              << s.files << " files, " << human_bytes(static_cast<double>(s.bytes)) << " in all)";
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
                << human_bytes(static_cast<double>(s.bytes_saved)) << " saved, " << s.unreferenced
                << " unreferenced (" << human_bytes(static_cast<double>(s.unreferenced_bytes)) << ")\n";
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
    std::cout << j.dump(2) << '\n';
  }
  return rc;
}

} // namespace

int
main(int argc, char** argv)
{
  CLI::App app{"pkgunify: unify identical files of many guest roots into a hash store"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "pkgunify 0.1.0");

  CommonOptions common;
  bool dry_run = false;
  bool repair = false;
  bool ignore_mtime = false;
  bool files = false;
  bool memory = false;
  std::optional<std::string> create;
  std::optional<std::string> link;
  std::optional<std::uint64_t> min_size;
  std::vector<std::string> roots;
  std::vector<std::string> paths;

  auto add_common = [&](CLI::App* cmd, bool with_store) {
    if (with_store) {
      cmd->add_option("--store", common.store, "Hash store directory (overrides the policy)");
    }
    cmd->add_option("--policy", common.policy, "Policy file (default: /etc/pkgunify/pkgunify.yaml if present)");
    cmd->add_flag("--json", common.json, "Print a machine-readable summary");
  };

  auto* scan = app.add_subcommand("scan", "Unify the files of guest roots");
  add_common(scan, true);
  scan->add_flag("--dry-run,-n", dry_run, "Change nothing; report what would change");
  scan->add_option("--jobs,-j", common.jobs, "Hashing threads (default: one per core)")->check(CLI::Range(1, 1024));
  scan->add_option("--create", create, "How objects are made (overrides the policy)")
    ->check(CLI::IsMember({"copy", "adopt"}));
  scan->add_option("--min-size", min_size, "Smallest file to unify, in bytes (overrides the policy)");
  scan->add_flag("--ignore-mtime", ignore_mtime, "Share files that differ only in mtime");
  scan->add_option("--link", link, "Link mode (overrides the policy): auto, iunlink, immutable, reflink, hardlink")
    ->check(CLI::IsMember({"auto", "iunlink", "immutable", "reflink", "hardlink"}));
  scan->add_option("ROOT", roots, "Guest root directories")->required();

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
  for (auto* cmd : {stats, fsck, gc}) {
    add_common(cmd, true);
  }
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
  for (auto& p : paths) {
    absolute(p);
  }
  try {
    if (scan->parsed()) {
      return cmd_scan(common, roots, dry_run, create, min_size, ignore_mtime, link);
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
    for (auto* cmd : {stats, fsck, gc}) {
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
