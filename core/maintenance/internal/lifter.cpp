// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/internal/lifter.hpp"

namespace pkgunify {

Lifter::Lifter(VserverKernel* vserver)
  : own(vserver ? nullptr : make_vserver_kernel())
  , kernel(vserver ? *vserver : *own)
  , protector(LinkMode::hardlink, kernel)
{}

}  // namespace pkgunify
