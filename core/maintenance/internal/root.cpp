#include "maintenance/internal/root.hpp"

#include "sys/exceptions.hpp"
#include "sys/fs.hpp"

namespace pkgunify {

sys::Fd
open_root(const Store& store, const std::string& root)
{
  auto fd = sys::open_host_dir(root);
  if (!fd) {
    throw ConfigError("root " + fd.error().message);
  }
  auto st = sys::fstat_fd(fd->get(), root);
  if (!st) {
    throw ConfigError(st.error().message);
  }
  store.check_same_filesystem(*st, root);
  return std::move(*fd);
}

}  // namespace pkgunify
