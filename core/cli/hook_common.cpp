// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/hook_common.hpp"

#include "sys/exceptions.hpp"

#include "sys/exceptions.hpp"

#include <unistd.h>

#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

namespace pkgunify::cli {

namespace {

// Another report's output with another exit status.
class StatusOverride final : public Report
{
public:
  StatusOverride(std::unique_ptr<Report> report, int status) : m_report(std::move(report)), m_status(status) {}
  [[nodiscard]] json
  to_json() const override
  {
    return m_report->to_json();
  }
  void
  print_text(std::ostream& out) const override
  {
    m_report->print_text(out);
  }
  [[nodiscard]] int
  exit_status() const override
  {
    return m_status;
  }

private:
  std::unique_ptr<Report> m_report;
  int m_status;
};

}  // namespace

void
add_hook_options(CLI::App& cmd, CommonOptions& o, HookOptions& h)
{
  add_common_options(cmd, o, StoreOption::without);
  cmd.add_option("--root", h.root, "Root of the package database (default: $DPKG_ROOT, else /)");
  cmd.add_flag("--hook", h.hook, "Run as a package-manager hook: report problems, always exit 0");
  cmd.add_option("--log", h.log, "With --hook, also append messages to this file")
    ->default_val("/var/log/pkgunify.log");
  cmd.add_flag("--host", h.host, "The root may be the host's own root directory (unify the host itself)");
}

std::string
hook_root(const HookOptions& h)
{
  std::string root = h.root;
  if (root.empty()) {
    const char* env = std::getenv("DPKG_ROOT");
    root = env && *env ? env : "/";
  }
  // What the root is (a missing one is reported by what uses it).
  struct stat r;
  struct stat host;
  if (!h.host && ::stat(root.c_str(), &r) == 0 && ::stat("/", &host) == 0 && host.st_dev == r.st_dev
      && host.st_ino == r.st_ino) {
    throw ConfigError(root + " is the host's root directory, not a guest's; pass --host to include the host itself");
  }
  return root;
}

void
HookReporter::error(std::string_view message)
{
  ++errors;
  emit("error", message);
}

void
HookReporter::warning(std::string_view message)
{
  emit("warning", message);
}

void
HookReporter::emit(std::string_view level, std::string_view message)
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

std::unique_ptr<Report>
run_hook(const HookOptions& h, const std::function<std::unique_ptr<Report>(HookReporter&)>& body)
{
  HookReporter reporter(h.hook ? h.log : std::string());
  try {
    auto report = body(reporter);
    return h.hook ? std::make_unique<StatusOverride>(std::move(report), k_exit_ok) : std::move(report);
  } catch (const ConfigError& e) {
    reporter.error(e.what());
    return std::make_unique<SilentReport>(h.hook ? k_exit_ok : k_exit_usage);
  } catch (const std::exception& e) {
    reporter.error(e.what());
    return std::make_unique<SilentReport>(h.hook ? k_exit_ok : k_exit_failures);
  }
}

}  // namespace pkgunify::cli
