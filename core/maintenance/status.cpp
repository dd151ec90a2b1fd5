// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/status.hpp"

#include "engine/scanner.hpp"
#include "engine/walker.hpp"
#include "maintenance/internal/lifter.hpp"
#include "sys/fs.hpp"
#include "sys/reflink.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <stdexcept>
#include <unordered_set>

namespace pkgunify {

namespace {

bool
reflink_capable(int fd)
{
  struct statfs sfs;
  return ::fstatfs(fd, &sfs) == 0
         && (sfs.f_type == BTRFS_SUPER_MAGIC || sfs.f_type == static_cast<decltype(sfs.f_type)>(XFS_SUPER_MAGIC));
}

// What every root's walk shares.
struct StatusContext
{
  const Store& store;
  const Policy& policy;
  const InodeSet& inodes;  // of the store's objects
  Reporter& reporter;
  const FileModeFn& each_file;
  Protector& protector;
  bool has_vserver;
};

// Counts the files of one root.
class StatusVisitor : public WalkVisitor
{
public:
  StatusVisitor(const StatusContext& context, const PackageFilter* filter, const std::string& root, int root_fd)
    : m_context(context)
    , m_filter(filter)
    , m_root_fd(root_fd)
    , m_reflinks(reflink_capable(root_fd))
  {
    status.root = root;
  }

  bool
  enter_dir(const std::string& /*dir*/, const struct stat& st) override
  {
    return !(st.st_ino == m_context.store.ino() && st.st_dev == m_context.store.dev());
  }

  void
  entry(const std::string& dir, const std::string& name, const struct stat& st, std::uint64_t attributes) override
  {
    if (!S_ISREG(st.st_mode)) {
      return;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    ++status.files;
    status.bytes += size;
    const std::string path = sys::child_path(dir, name);
    const bool candidate = !candidate_verdict(m_context.policy, m_filter, path, st);
    if (candidate) {
      ++status.candidates;
      status.candidate_bytes += size;
    }
    const std::string_view mode = (candidate || st.st_nlink > 1) ? mode_of(path, st, attributes) : "";
    if (!mode.empty()) {
      count_unified(path, st, mode);
    }
  }

  void
  mount_point(const std::string& /*path*/) override
  {}

  void
  error(const std::string& message) override
  {
    m_context.reporter.error(message);
  }

  RootStatus status;

private:
  // The mode the file is unified in; empty when it is not.
  std::string_view
  mode_of(const std::string& path, const struct stat& st, std::uint64_t attributes)
  {
    if (st.st_nlink > 1 && m_context.inodes.contains(st.st_ino)) {
      return linked_mode(path, attributes);
    }
    if (m_reflinks && st.st_size > 0) {
      auto fd = open_file(path);
      if (fd) {
        auto sharing = sys::extent_sharing(fd->get(), path);
        if (sharing && sharing->extents > 0 && sharing->shared == sharing->extents) {
          return "reflink";
        }
      }
    }
    return {};
  }

  // The mode of a link to an object: what protects it.
  std::string_view
  linked_mode(const std::string& path, std::uint64_t attributes)
  {
    if (m_context.has_vserver) {
      // Ask the kernel: statx does not show the iunlink attribute.
      if (auto fd = open_file(path)) {
        if (auto p = m_context.protector.state(fd->get(), path); p && *p != Protection::none) {
          return to_string(*p);
        }
      }
    }
    return (attributes & STATX_ATTR_IMMUTABLE) ? "immutable" : "hardlink";
  }

  void
  count_unified(const std::string& path, const struct stat& st, std::string_view mode)
  {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    ++status.unified_files;
    status.unified_bytes += size;
    ++status.modes[std::string(mode)];
    if (mode != "reflink") {
      // Each of the n-1 guest names carries (n-2)/(n-1) of the saving.
      const std::uint64_t guests = st.st_nlink - 1;
      status.saved_bytes += guests > 1 ? size * (guests - 1) / guests : 0;
    }
    if (m_context.each_file) {
      m_context.each_file(status.root, path, mode);
    }
  }

  [[nodiscard]] sys::Result<sys::Fd>
  open_file(const std::string& path) const
  {
    return sys::open_regular_beneath(m_root_fd, path.substr(1), O_RDONLY, path);  // never a FIFO swapped in
  }

  const StatusContext& m_context;
  const PackageFilter* m_filter;  // null: the root has none
  int m_root_fd;
  bool m_reflinks;
};

}  // namespace

std::vector<RootStatus>
root_status(const Store& store, const Policy& policy, const std::vector<std::string>& roots, Reporter& reporter,
            const FileModeFn& each_file, VserverKernel* vserver, const PackageFilters& filters)
{
  if (!filters.empty() && filters.size() != roots.size()) {
    throw std::invalid_argument("root_status: " + std::to_string(filters.size()) + " package filters for "
                                + std::to_string(roots.size()) + " roots");
  }
  const auto inodes = store.object_inodes();
  Lifter lifter(vserver);
  const bool has_vserver = static_cast<bool>(lifter.kernel.probe());
  const StatusContext context{store, policy, inodes, reporter, each_file, lifter.protector, has_vserver};
  std::vector<RootStatus> out;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    const GuestRoot root = store.open_root(roots[i]);
    StatusVisitor visitor(context, filters.empty() ? nullptr : filters[i].get(), roots[i], root.fd.get());
    walk_tree(root.fd.get(), roots[i], visitor);
    out.push_back(std::move(visitor.status));
  }
  return out;
}

}  // namespace pkgunify
