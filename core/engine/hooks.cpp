#include "engine/hooks.hpp"

#include "sys/exceptions.hpp"
#include "engine/link_mode.hpp"
#include "engine/packages.hpp"
#include "guest/split.hpp"

#include <unistd.h>

namespace pkgunify {

Policy
load_hook_policy(const std::string& file)
{
  if (!file.empty()) {
    return load_policy(file);
  }
  if (::access(k_system_policy_path, F_OK) == 0) {
    return load_policy(k_system_policy_path);
  }
  return default_policy();
}

bool
check_hook_config(const HookRequest& request, Reporter& reporter) noexcept
{
  try {
    const Policy policy = load_hook_policy(request.policy_file);
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
    ScanOptions opt;
    opt.policy = load_hook_policy(request.policy_file);
    opt.policy.create = opt.policy.hook_create;
    const std::string store_path = opt.policy.store ? *opt.policy.store : Store::default_location(request.root);
    const Store store = Store::open(store_path, true);
    const auto kernel = make_vserver_kernel();
    opt.link = resolve_link_mode(opt.policy, *kernel, store);
    auto filter = std::make_shared<PackageFilter>();
    filter->source = "package manager";
    filter->config = request.config;
    Unifier unifier(store, opt, reporter);
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
