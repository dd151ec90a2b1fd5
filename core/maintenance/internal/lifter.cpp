#include "maintenance/internal/lifter.hpp"

namespace pkgunify {

Lifter::Lifter(VserverKernel* vserver)
  : own(vserver ? nullptr : make_vserver_kernel())
  , kernel(vserver ? *vserver : *own)
  , protector(LinkMode::hardlink, kernel)
{}

sys::Result<void>
restore_protection(VserverKernel& vserver, int fd, Protection p, std::string_view display)
{
  if (p == Protection::none) {
    return {};
  }
  Protector again(p == Protection::iunlink ? LinkMode::iunlink : LinkMode::immutable, vserver);
  return again.protect(fd, display);
}

}  // namespace pkgunify
