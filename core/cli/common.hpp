// Shared pieces of the pkgunify command: reporter, options, policy and
// store lookup, output helpers.
#pragma once

#include "pkgdb/packagedb.hpp"
#include "engine/packages.hpp"
#include "engine/policy.hpp"
#include "engine/scanner.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pkgunify::cli {

using json = nlohmann::ordered_json;

// Exit status: 0 all went well; 1 some files (or objects, packages) failed,
// each named on stderr; 2 usage or configuration error.
constexpr int k_exit_ok = 0;
constexpr int k_exit_failures = 1;
constexpr int k_exit_usage = 2;
constexpr const char* k_system_policy = "/etc/pkgunify/pkgunify.yaml";

class CliReporter : public Reporter
{
public:
  explicit CliReporter(bool show_progress);
  void error(std::string_view message) override;
  void warning(std::string_view message) override;
  void progress(const ScanStats& s, std::uint64_t done, std::uint64_t total);
  void done();

private:
  void clear_line();

  std::mutex m_mu;
  bool m_progress;
  bool m_dirty = false;
};

std::string human_bytes(double bytes);

struct CommonOptions
{
  std::string store;
  std::string policy;
  bool json = false;
  unsigned jobs = 0;
  std::string db = "auto";  // package database: auto, rpm, dpkg, none
};

// --policy FILE, else /etc/pkgunify/pkgunify.yaml when present, else the
// built-in default.
Policy load_effective_policy(const CommonOptions& o);

// --store, else the policy's store:, else the default next to the first root.
std::string store_path(const CommonOptions& o, const Policy& policy, const std::vector<std::string>& roots);

Store open_store(const CommonOptions& o, const Policy& policy, const std::vector<std::string>& roots, bool create);

void raise_fd_limit();

json scan_json(const ScanStats& s);

// The JSON text --json prints. Names are bytes, JSON strings are UTF-8: a
// byte that is not valid UTF-8 (a guest's file name) is printed as U+FFFD
// instead of failing the whole command.
std::string json_text(const json& j);

// Options of the commands that unify (scan, pkg) beyond CommonOptions.
struct ScanFlags
{
  bool dry_run = false;
  std::optional<std::string> create;
  std::optional<std::string> link;
  std::optional<std::uint64_t> min_size;
  bool ignore_mtime = false;
};

struct ScanSetup
{
  ScanOptions opt;
  Store store;
};

// Policy with command-line overrides, the store (not created by a dry run),
// the resolved link mode.
ScanSetup prepare_scan(const CommonOptions& o, const ScanFlags& flags, const std::vector<std::string>& roots);

// Prints the summary (JSON with `extra` merged in, or text); returns the exit
// status.
int report_scan(const CommonOptions& o, const std::string& command, const ScanSetup& setup, const ScanStats& s,
                const json& extra);

// The root's package database as --db says: null for none (or none found
// with auto). Throws PackageDbError.
std::unique_ptr<PackageDb> open_db(const CommonOptions& o, const std::string& root, bool required);

// The filter the root's package database gives a scan; null without one.
std::shared_ptr<const PackageFilter> package_filter(const CommonOptions& o, const std::string& root,
                                                    bool only_packaged);

}  // namespace pkgunify::cli
