// SPDX-License-Identifier: GPL-2.0-or-later
// What the commands package-manager hooks run (sync, dpkg-release,
// unify-files) share: their options, the root they work on, a reporter that
// also logs, and hook mode, in which nothing makes the package manager fail.
#pragma once

#include "cli/command.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace pkgunify::cli {

struct HookOptions
{
  std::string root;       // empty: $DPKG_ROOT, else "/"
  std::string state_dir;  // empty: /var/lib/pkgunify/sync
  std::string log;        // hook mode: also append messages here
  bool hook = false;      // never fail: exit 0 whatever happens
  bool host = false;      // the root may be the host's own "/"
};

// --policy, --json, --root, --hook, --log, --host.
void add_hook_options(CLI::App& cmd, CommonOptions& o, HookOptions& h);

// --root, else $DPKG_ROOT, else "/". Throws ConfigError when that is the
// host's own root directory (the same device and inode as "/", whatever the
// path spells: "/usr/..", a symlink to "/") and --host was not given: the
// hooks work on guests, and unifying the host would turn its programs into
// protected links into a store.
std::string hook_root(const HookOptions& h);

// Prints to stderr and, for hooks, appends to a log file; counts errors.
class HookReporter : public Reporter
{
public:
  explicit HookReporter(std::string log) : m_log(std::move(log)) {}
  void error(std::string_view message) override;
  void warning(std::string_view message) override;

  std::uint64_t errors = 0;

private:
  void emit(std::string_view level, std::string_view message);

  std::string m_log;
  std::mutex m_mu;
};

// Runs `body` with a HookReporter (logging in hook mode). In hook mode
// every failure is reported and the exit status is 0, so that the package
// manager's result never changes; otherwise a failure that stops the body
// is reported and gives exit status 2 (ConfigError) or 1, with nothing
// printed on standard output.
std::unique_ptr<Report> run_hook(const HookOptions& h,
                                 const std::function<std::unique_ptr<Report>(HookReporter&)>& body);

}  // namespace pkgunify::cli
