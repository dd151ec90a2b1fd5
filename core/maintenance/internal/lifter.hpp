// SPDX-License-Identifier: GPL-2.0-or-later
// Lifting the protection of store objects, for the maintenance commands that
// move or remove an object's names (fsck --repair, gc) or ask what protects
// a guest file (status).
#pragma once

#include "guest/protection.hpp"
#include "sys/error.hpp"

#include <memory>
#include <string_view>

namespace pkgunify {

// A Protector that only lifts (mode hardlink wants no protection), for the
// maintenance commands, which work on objects of any mode.
struct Lifter
{
  std::unique_ptr<VserverKernel> own;
  VserverKernel& kernel;  // the one given, or `own`: the real one
  Protector protector;

  // `vserver` may be null: the real kernel.
  explicit Lifter(VserverKernel* vserver);
};

}  // namespace pkgunify
