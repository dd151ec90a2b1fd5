// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/hooks.hpp"

#include "engine/packages.hpp"
#include "engine/session.hpp"
#include "guest/protection.hpp"
#include "guest/split.hpp"
#include "sys/exceptions.hpp"

#include <unordered_set>

namespace pkgunify {

bool
check_hook_config(const HookRequest& request, Reporter& reporter) noexcept
{
  try {
    const Policy policy = load_run_policy(request.policy_file);
    if (policy.link == LinkMode::iunlink) {
      const auto kernel = make_vserver_kernel();
      if (auto r = kernel->probe(); !r) {
        throw ConfigError("link mode iunlink needs a Linux-VServer kernel; this kernel has no vserver syscall ("
                          + r.error().message + ")");
      }
    }
    return true;
  } catch (const std::exception& e) {
    reporter.error(e.what());
  } catch (...) {
    reporter.error("unexpected error");
  }
  return false;
}

HookResult
unify_files(const HookRequest& request, Reporter& reporter) noexcept
{
  HookResult result;
  try {
    ScanRequest scan;
    scan.policy_file = request.policy_file;
    scan.roots = {request.root};
    scan.caller = ScanCaller::hook;
    const ScanSetup setup = setup_scan(scan);
    auto filter = std::make_shared<PackageFilter>();
    filter->source = "package manager";
    filter->config = request.config;
    Unifier unifier(setup.store, setup.opt, reporter);
    const std::size_t id = unifier.add_root(request.root, filter);
    RootPaths paths(request.root);
    std::unordered_set<std::string> seen;
    for (const auto& f : request.files) {
      const auto canon = paths.canonical(f);
      if (canon && !request.config.contains(f) && seen.insert(*canon).second) {
        unifier.add_file(id, *canon);
      }
    }
    result.stats = unifier.run();
    result.ran = true;
  } catch (const std::exception& e) {
    reporter.error(e.what());
  } catch (...) {
    reporter.error("unexpected error");
  }
  return result;
}

}  // namespace pkgunify
