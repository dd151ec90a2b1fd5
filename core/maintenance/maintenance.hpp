// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify store stats|fsck|gc|unprotect` and `pkgunify status`: one header
// and one source file per command; this one includes them all.
#pragma once

// Callers of the commands use the scan's types with them.
#include "engine/scanner.hpp"
#include "maintenance/fsck.hpp"
#include "maintenance/gc.hpp"
#include "maintenance/guest_list.hpp"
#include "maintenance/stats.hpp"
#include "maintenance/status.hpp"
#include "maintenance/unprotect.hpp"
