// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/unprotect.hpp"

#include "guest/protection.hpp"

#include <linux/fs.h>

#include <string>

namespace pkgunify {

namespace {

// Takes the protection off `fd` for good, under the lock release and scans
// take, so that no scan restores it meanwhile.
sys::Result<void>
clear_immutable(int fd, const std::string& display)
{
  const auto kernel = make_vserver_kernel();
  Protector lifter(LinkMode::hardlink, *kernel);
  auto lifted = lifter.lift(fd, display);
  if (!lifted) {
    return std::unexpected(lifted.error());
  }
  lifted->leave_lifted();
  return {};
}

// What store_unprotect() does with one object.
void
unprotect_object(const Store& store, const ObjectId& id, unsigned successor, bool dry_run, UnprotectResult& result,
                 Reporter& reporter)
{
  auto fd = store.open_object(id, successor, Store::Atime::may_update);
  if (!fd) {
    if (fd.error().code != ENOENT) {
      ++result.errors;
      reporter.error(fd.error().message);
    }
    return;
  }
  const std::string display = store.object_path(id, successor);
  auto flags = get_inode_flags(fd->get(), display);
  if (!flags || !(*flags & FS_IMMUTABLE_FL)) {
    ++result.unchanged;  // no inode flags at all: nothing is protected
    return;
  }
  if (!dry_run) {
    if (auto cleared = clear_immutable(fd->get(), display); !cleared) {
      ++result.errors;
      reporter.error(cleared.error().message);
      return;
    }
  }
  ++result.lifted;
}

}  // namespace

UnprotectResult
store_unprotect(const Store& store, bool dry_run, Reporter& reporter)
{
  UnprotectResult result;
  for (unsigned f = 0; f < 256; ++f) {
    store.for_each_object(f, [&](const std::string&, const ObjectId& id, unsigned successor) {
      unprotect_object(store, id, successor, dry_run, result, reporter);
    });
  }
  return result;
}

}  // namespace pkgunify
