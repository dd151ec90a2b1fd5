#include "hooks.hpp"

#include "exceptions.hpp"
#include "packages.hpp"
#include "split.hpp"
#include "walker.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pkgunify {

namespace {

constexpr const char* k_system_policy = "/etc/pkgunify/pkgunify.yaml";

} // namespace

Policy
load_hook_policy(const std::string& file)
{
  if (!file.empty()) {
    return load_policy(file);
  }
  if (::access(k_system_policy, F_OK) == 0) {
    return load_policy(k_system_policy);
  }
  return default_policy();
}

HookResult
unify_files(const HookRequest& request, Reporter& reporter) noexcept
{
  HookResult result;
  try {
    ScanOptions opt;
    opt.policy = load_hook_policy(request.policy_file);
    opt.policy.create = opt.policy.hook_create;
    const std::string store_path =
      opt.policy.store ? *opt.policy.store : Store::default_location(request.root);
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

ReleaseResult
release_if_protected(const std::string& path, bool in_chroot, Reporter& reporter) noexcept
{
  try {
    struct stat st;
    std::uint64_t attributes = 0;
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) {
      return ReleaseResult::not_needed;
    }
    const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    const int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC | (in_chroot ? 0 : O_NOFOLLOW));
    if (dfd < 0) {
      return ReleaseResult::not_needed;  // nothing there to release
    }
    const int rc = stat_entry(dfd, path.c_str() + slash + 1, st, attributes);
    ::close(dfd);
    if (rc != 0 || !S_ISREG(st.st_mode) || !(attributes & (STATX_ATTR_IMMUTABLE | STATX_ATTR_APPEND))) {
      return ReleaseResult::not_needed;
    }
    const SplitResult r = split_path(path, false, reporter, nullptr,
                                     in_chroot ? DirResolution::follow : DirResolution::no_symlinks);
    return r == SplitResult::failed ? ReleaseResult::failed : ReleaseResult::released;
  } catch (const std::exception& e) {
    reporter.error(path + ": " + e.what());
  } catch (...) {
    reporter.error(path + ": unexpected error");
  }
  return ReleaseResult::failed;
}

} // namespace pkgunify
