// SPDX-License-Identifier: GPL-2.0-or-later
// Shared pieces of the pkgunify command: exit status, reporter, options,
// store and package database lookup, JSON text.
#pragma once

#include "engine/packages.hpp"
#include "engine/policy.hpp"
#include "engine/scanner.hpp"
#include "engine/session.hpp"
#include "pkgdb/packagedb.hpp"
#include "store/store.hpp"
#include "sys/reporter.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace pkgunify::cli {

using json = nlohmann::ordered_json;

// Exit status: 0 all went well; 1 some files (or objects, packages) failed,
// each named on stderr; 2 usage or configuration error.
constexpr int k_exit_ok = 0;
constexpr int k_exit_failures = 1;
constexpr int k_exit_usage = 2;

// Whether a CliReporter shows a progress line (on a terminal only).
enum class Progress { hidden, shown };

class CliReporter : public Reporter
{
public:
  explicit CliReporter(Progress progress);
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

// The options most commands share.
struct CommonOptions
{
  std::string store;
  std::string policy;
  bool json = false;
  unsigned jobs = 0;
  std::string db = "auto";  // package database: auto, rpm, dpkg, none
};

// Whether a command takes --store.
enum class StoreOption { without, with };

// --store (with StoreOption::with), --policy and --json.
void add_common_options(CLI::App& cmd, CommonOptions& o, StoreOption store);

// --db.
void add_db_option(CLI::App& cmd, CommonOptions& o);

// Paths from the command line may be relative to the working directory.
void make_absolute(std::string& path);
void make_absolute(std::vector<std::string>& paths);

// What the commands that read the store (status, verify, store) work with:
// the policy (--policy, as load_run_policy says) and the existing store
// (--store, else the policy's store:, else the default next to the first
// root: run_store_path).
struct PolicyAndStore
{
  Policy policy;
  Store store;
};
PolicyAndStore open_policy_and_store(const CommonOptions& o, const std::vector<std::string>& roots);

void raise_fd_limit();

json scan_json(const ScanStats& s);

// The JSON text --json prints. Names are bytes, JSON strings are UTF-8: a
// byte that is not valid UTF-8 (a guest's file name) is printed as U+FFFD
// instead of failing the whole command.
std::string json_text(const json& j);

// Whether a command needs the root's package database.
enum class DbNeed { optional, required };

// The root's package database as --db says: null for none (or none found
// with auto, when optional). Throws PackageDbError, and ConfigError when a
// required one is turned off (--db none).
std::unique_ptr<PackageDb> open_db(const CommonOptions& o, const std::string& root, DbNeed need);

// "KIND database LOCATION", for messages.
std::string db_source(const PackageDb& db);

// Warns of each of `missing` (named packages `db` does not have).
void warn_missing(Reporter& reporter, const std::string& root, const PackageDb& db,
                  const std::vector<std::string>& missing);

// The filter the root's package database gives a scan with `policy`
// (only_packaged); null without one.
std::shared_ptr<const PackageFilter> package_filter(const CommonOptions& o, const std::string& root,
                                                    const Policy& policy);

}  // namespace pkgunify::cli
