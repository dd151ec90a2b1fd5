// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/link_mode.hpp"

#include "store/store.hpp"
#include "sys/exceptions.hpp"
#include "sys/reflink.hpp"

#include <linux/magic.h>
#include <sys/vfs.h>

namespace pkgunify {

namespace {

// The filesystems where FS_IMMUTABLE_FL does not stop writes through an fd
// opened before it was set (platform-facts: XFS, btrfs; ext4 refuses them).
const char*
immutable_leaks_held_writes(const Store& store)
{
  struct statfs fs;
  if (::fstatfs(store.fd(), &fs) != 0) {
    return nullptr;
  }
  switch (static_cast<unsigned long>(fs.f_type)) {
  case XFS_SUPER_MAGIC:
    return "XFS";
  case BTRFS_SUPER_MAGIC:
    return "btrfs";
  default:
    return nullptr;
  }
}

[[noreturn]] void
refuse_untrusted_immutable(const Policy& policy, const Store& store, const char* fs)
{
  throw ConfigError(std::string("link mode immutable does not protect shared files on ") + fs + " (" + store.path()
                    + "): a process that holds a file open for writing keeps writing to it after it is made "
                      "immutable. Use link: reflink (copies share extents, each guest writes its own), or set "
                      "trusted_roots: true in "
                    + policy.source + " (or pass --trusted-roots) if no guest's user can be hostile");
}

}  // namespace

LinkMode
resolve_link_mode(const Policy& policy, VserverKernel& vserver, const Store& store)
{
  LinkMode mode = policy.link;
  const char* weak_fs = store.exists() ? immutable_leaks_held_writes(store) : nullptr;
  if (mode == LinkMode::auto_select) {
    mode = vserver.probe() ? LinkMode::iunlink : policy.link_fallback;
    if (mode == LinkMode::immutable && weak_fs != nullptr && !policy.trusted_roots) {
      mode = LinkMode::reflink;  // auto: the protection that holds there
    }
  }
  if (mode == LinkMode::immutable && weak_fs != nullptr && !policy.trusted_roots) {
    refuse_untrusted_immutable(policy, store, weak_fs);
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
