// SPDX-License-Identifier: GPL-2.0-or-later
// Which link mode a run uses: `auto` resolved, and the mode probed on the
// store's filesystem.
#pragma once

#include "engine/policy.hpp"
#include "guest/protection.hpp"
#include "store/store.hpp"

namespace pkgunify {

// Resolves `auto` and checks that the kernel and the store's filesystem can
// give the mode: ConfigError saying what is missing otherwise.
LinkMode resolve_link_mode(const Policy& policy, VserverKernel& vserver, const Store& store);

}  // namespace pkgunify
