#include "engine/link_mode.hpp"

#include "store/store.hpp"
#include "sys/exceptions.hpp"
#include "sys/reflink.hpp"

namespace pkgunify {

LinkMode
resolve_link_mode(const Policy& policy, VserverKernel& vserver, const Store& store)
{
  LinkMode mode = policy.link;
  if (mode == LinkMode::auto_select) {
    mode = vserver.probe() ? LinkMode::iunlink : policy.link_fallback;
  }
  switch (mode) {
  case LinkMode::iunlink:
    if (auto r = vserver.probe(); !r) {
      throw ConfigError("link mode iunlink needs a Linux-VServer kernel; this kernel has no vserver syscall ("
                        + r.error().message + "); use link: immutable, reflink or hardlink");
    }
    break;
  case LinkMode::immutable: {
    if (!store.exists()) {
      break;  // dry run before the first scan: nothing to probe
    }
    auto tmp = store.make_temp();
    if (!tmp) {
      throw ConfigError(tmp.error().message);
    }
    auto flags = get_inode_flags(tmp->get(), store.path());
    if (!flags) {
      throw ConfigError("link mode immutable: the filesystem of " + store.path() + " has no inode flags ("
                        + flags.error().message + ")");
    }
    auto set = probe_immutable_flag(tmp->get(), store.path() + "/tmp");
    if (!set) {
      throw ConfigError("link mode immutable: cannot set the immutable flag on " + store.path() + " ("
                        + set.error().message + "; it needs CAP_LINUX_IMMUTABLE and ext4, XFS or btrfs)");
    }
    break;
  }
  case LinkMode::reflink: {
    if (!store.exists()) {
      break;
    }
    auto a = store.make_temp();
    auto b = store.make_temp();
    if (!a || !b) {
      throw ConfigError((!a ? a.error() : b.error()).message);
    }
    if (auto r = sys::clone_file(a->get(), b->get(), store.path() + "/tmp"); !r) {
      throw ConfigError("link mode reflink: the filesystem of " + store.path() + " cannot share extents ("
                        + r.error().message + "); reflinks need btrfs or XFS with reflink=1");
    }
    break;
  }
  case LinkMode::hardlink:
  case LinkMode::auto_select:
    break;
  }
  return mode;
}

}  // namespace pkgunify
