// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/session.hpp"

#include "engine/link_mode.hpp"
#include "guest/background.hpp"
#include "guest/protection.hpp"
#include "sys/exceptions.hpp"

#include <unistd.h>

namespace pkgunify {

Policy
load_run_policy(const std::string& file)
{
  if (!file.empty()) {
    return load_policy(file);
  }
  if (::access(k_system_policy_path, F_OK) == 0) {
    return load_policy(k_system_policy_path);
  }
  return default_policy();
}

std::string
run_store_path(const std::string& given, const Policy& policy, const std::vector<std::string>& roots)
{
  if (!given.empty()) {
    return given;
  }
  if (policy.store) {
    return *policy.store;
  }
  if (roots.empty()) {
    throw ConfigError("no store given: use --store DIR or 'store:' in the policy");
  }
  return Store::default_location(roots.front());
}

std::string
filesystem_store_path(const Policy& policy, dev_t dev, const std::string& root)
{
  if (policy.store && Store::absent(*policy.store).dev() == dev) {
    return *policy.store;
  }
  return Store::default_location(root);
}

Policy
scan_policy(const ScanRequest& request)
{
  Policy policy = load_run_policy(request.policy_file);
  if (request.caller == ScanCaller::hook) {
    policy.create = policy.hook_create;
  }
  const PolicyOverrides& o = request.overrides;
  if (o.link) {
    policy.link = *o.link;
  }
  if (o.create) {
    policy.create = *o.create;
  }
  if (o.min_size) {
    policy.min_size = *o.min_size;
  }
  if (o.ignore_mtime) {
    policy.ignore_mtime = true;
  }
  if (o.trusted_roots) {
    policy.trusted_roots = true;
  }
  return policy;
}

ScanSetup
setup_scan(const ScanRequest& request, Policy policy)
{
  ScanOptions opt;
  opt.policy = std::move(policy);
  opt.dry_run = request.dry_run;
  opt.jobs = request.jobs;
  // A dry run never creates the store; without one it reports what a first
  // run would do.
  const std::string path = run_store_path(request.store, opt.policy, request.roots);
  const auto create = request.dry_run ? Store::Create::no : Store::Create::if_missing;
  Store store =
    (request.dry_run && ::access(path.c_str(), F_OK) != 0) ? Store::absent(path) : Store::open(path, create);
  const auto kernel = make_vserver_kernel();
  opt.link = resolve_link_mode(opt.policy, *kernel, store);
  return ScanSetup{std::move(opt), std::move(store)};
}

ScanSetup
setup_scan(const ScanRequest& request)
{
  return setup_scan(request, scan_policy(request));
}

}  // namespace pkgunify
