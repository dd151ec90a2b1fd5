#include "cli/hook_commands.hpp"

#include "guest/background.hpp"
#include "pkgdb/debfile.hpp"
#include "sys/exceptions.hpp"
#include "engine/hooks.hpp"
#include "engine/packages.hpp"
#include "pkgdb/pkgdb.hpp"
#include "engine/sync.hpp"

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

namespace pkgunify::cli {

namespace {

// Prints to stderr and, for hooks, appends to a log file; counts errors.
class HookReporter : public Reporter
{
public:
  explicit HookReporter(std::string log) : m_log(std::move(log)) {}

  void
  error(std::string_view message) override
  {
    ++errors;
    emit("error", message);
  }

  void
  warning(std::string_view message) override
  {
    emit("warning", message);
  }

  std::uint64_t errors = 0;

private:
  void
  emit(std::string_view level, std::string_view message)
  {
    std::lock_guard lock(m_mu);
    std::cerr << "pkgunify: " << level << ": " << message << '\n';
    if (!m_log.empty()) {
      std::ofstream out(m_log, std::ios::app);
      const std::time_t now = std::time(nullptr);
      char stamp[32];
      std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
      out << stamp << " pkgunify[" << ::getpid() << "] " << level << ": " << message << '\n';
    }
  }

  std::string m_log;
  std::mutex m_mu;
};

std::string
hook_root(const HookOptions& h)
{
  if (!h.root.empty()) {
    return h.root;
  }
  const char* env = std::getenv("DPKG_ROOT");
  return env && *env ? env : "/";
}

// Runs `body`; in hook mode every failure is reported and the exit status is
// 0, so that the package manager's result never changes.
template<typename Body>
int
guarded(const HookOptions& h, HookReporter& reporter, Body&& body)
{
  try {
    const int rc = body();
    return h.hook ? k_exit_ok : rc;
  } catch (const ConfigError& e) {
    reporter.error(e.what());
    return h.hook ? k_exit_ok : k_exit_usage;
  } catch (const std::exception& e) {
    reporter.error(e.what());
    return h.hook ? k_exit_ok : k_exit_failures;
  }
}

// The command line of the nearest dpkg process above this one (hooks run as
// dpkg -> sh -c -> pkgunify); empty when there is none.
std::vector<std::string>
dpkg_command_line()
{
  pid_t pid = ::getppid();
  for (int depth = 0; depth < 6 && pid > 1; ++depth) {
    const std::string proc = "/proc/" + std::to_string(pid);
    std::ifstream comm(proc + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "dpkg") {
      std::ifstream in(proc + "/cmdline", std::ios::binary);
      std::vector<std::string> args;
      std::string arg;
      while (std::getline(in, arg, '\0')) {
        args.push_back(arg);
      }
      return args;
    }
    std::ifstream stat(proc + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
      break;
    }
    std::istringstream rest(line.substr(close + 2));
    char state;
    rest >> state >> pid;
  }
  return {};
}

}  // namespace

int
cmd_sync(const CommonOptions& o, const HookOptions& h)
{
  HookReporter reporter(h.hook ? h.log : std::string());
  return guarded(h, reporter, [&] {
    const std::string root = hook_root(h);
    auto db = open_db(o, root, true);
    RootPaths paths(root);
    const std::string state_path =
      SyncState::path_for(h.state_dir.empty() ? k_default_sync_state_dir : h.state_dir, paths.real_root());
    SyncState state = SyncState::load(state_path);
    const std::string marker = db->change_marker();
    json j;
    j["command"] = "sync";
    j["root"] = root;
    j["package_db"] = db->kind();
    if (state.marker == marker && state.root == paths.real_root()) {
      j["unchanged"] = true;
      j["packages"] = json::array();
      if (o.json) {
        std::cout << json_text(j) << '\n';
      }
      return k_exit_ok;  // nothing happened since the last sync
    }
    const auto stamps = db->stamps();
    const auto changed = state.changed(stamps);
    HookResult result;
    result.ran = true;
    if (!changed.empty()) {
      std::vector<std::string> missing;
      HookRequest request;
      request.root = root;
      request.policy_file = o.policy;
      for (const auto& p : db->packages(changed, missing)) {
        for (const auto& f : p.files) {
          if (f.config) {
            request.config.insert(f.path);
          } else {
            request.files.push_back(f.path);
          }
        }
      }
      result = unify_files(request, reporter);
    }
    if (result.ran) {
      const auto before = state.stamps;
      state.root = paths.real_root();
      state.marker = marker;
      state.stamps.clear();
      for (const auto& s : stamps) {
        state.stamps[s.name] = s.fingerprint;
      }
      if (result.stats.errors) {
        // Some files failed (each reported): the packages that changed keep
        // their old stamps and the marker is forgotten, so that the next sync
        // tries them again.
        state.marker.clear();
        for (const auto& name : changed) {
          if (const auto it = before.find(name); it != before.end()) {
            state.stamps[name] = it->second;
          } else {
            state.stamps.erase(name);
          }
        }
      }
      state.save(state_path);
    }
    j["unchanged"] = false;
    j["packages"] = changed;
    j.update(scan_json(result.stats));
    if (o.json) {
      std::cout << json_text(j) << '\n';
    } else if (!h.hook) {
      std::cout << root << ": " << changed.size() << " packages changed, " << result.stats.linked << " files linked\n";
    }
    return (!result.ran || result.stats.errors) ? k_exit_failures : k_exit_ok;
  });
}

int
cmd_unify_files(const CommonOptions& o, const HookOptions& h, bool check_only)
{
  HookReporter reporter(h.hook ? h.log : std::string());
  return guarded(h, reporter, [&] {
    HookRequest request;
    request.root = hook_root(h);
    request.policy_file = o.policy;
    if (check_only) {
      if (!check_hook_config(request, reporter)) {
        return k_exit_usage;
      }
      remember_hook_config(o.policy, "/proc/self/exe");
      return k_exit_ok;
    }
    const std::string input{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    std::size_t record = 0;
    for (std::size_t at = 0; at < input.size(); ++record) {
      const auto end = input.find('\0', at);
      if (end == std::string::npos) {
        throw ConfigError("standard input: record " + std::to_string(record + 1) + " is not NUL-terminated");
      }
      const std::string_view r(input.data() + at, end - at);
      if (r.size() < 2 || (r[0] != 'F' && r[0] != 'C') || r[1] != '/') {
        throw ConfigError("standard input: record " + std::to_string(record + 1) + " is not \"F/path\" or \"C/path\"");
      }
      if (r[0] == 'F') {
        request.files.emplace_back(r.substr(1));
      } else {
        request.config.emplace(r.substr(1));
      }
      at = end + 1;
    }
    const HookResult result = unify_files(request, reporter);
    if (o.json) {
      json j;
      j["command"] = "unify-files";
      j["root"] = request.root;
      j.update(scan_json(result.stats));
      std::cout << j.dump(2) << '\n';
    }
    if (!result.ran) {
      return k_exit_usage;
    }
    return result.stats.errors ? k_exit_failures : k_exit_ok;
  });
}

int
cmd_dpkg_release(const CommonOptions& o, const HookOptions& h)
{
  HookReporter reporter(h.hook ? h.log : std::string());
  return guarded(h, reporter, [&] {
    const std::string root = hook_root(h);
    // What is about to change: the .deb files named on dpkg's command line
    // (install, unpack; apt passes them the same way) and the packages it
    // removes or purges.
    std::set<std::string> names;
    bool removing = false;
    bool installing = false;
    bool recursive = false;  // -R: the arguments of -i/--unpack are directories of .deb files
    const auto args = dpkg_command_line();
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
        // dpkg -R takes the files ending in .deb below each directory.
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(a, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
          if (it->path().extension() == ".deb" && it->is_regular_file(ec)) {
            debs.push_back(it->path().string());
          }
        }
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
    if (names.empty()) {
      return k_exit_ok;
    }
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
    if (o.json) {
      json j;
      j["command"] = "dpkg-release";
      j["root"] = root;
      j["packages"] = std::vector<std::string>(names.begin(), names.end());
      j["released"] = released;
      std::cout << json_text(j) << '\n';
    }
    return reporter.errors ? k_exit_failures : k_exit_ok;
  });
}

}  // namespace pkgunify::cli
