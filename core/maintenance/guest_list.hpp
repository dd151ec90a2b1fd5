// SPDX-License-Identifier: GPL-2.0-or-later
// `pkgunify guest list`: each registered guest as the host sees it: how much
// of it is unified, whether its agent socket is served, and what puts its
// protection at risk.
#pragma once

#include "engine/guests.hpp"
#include "sys/proc.hpp"
#include "sys/reporter.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pkgunify {

// CAP_LINUX_IMMUTABLE (linux/capability.h): who holds it may clear the
// immutable flag of shared files.
inline constexpr unsigned k_cap_linux_immutable = 9;

struct GuestInfo
{
  GuestEntry entry;
  std::string store;  // the store of its group (scan --all); empty when left out
  bool root_exists = false;
  bool store_exists = false;
  std::uint64_t unified_files = 0;  // as `pkgunify status` counts them
  std::uint64_t unified_bytes = 0;
  std::uint64_t saved_bytes = 0;
  bool agent_served = false;  // guest_agent_socket(name) accepts a connection
  std::vector<std::string> warnings;
};

// Every guest of `guests` (policy_file: as group_guests takes it), in their
// order. What fails for one guest (a missing root, a policy that does not
// load, a root that cannot be read) is one of its warnings; errors of single
// files go to `reporter`. Reads every guest's tree (as status does) and
// every process of /proc.
std::vector<GuestInfo> guest_infos(const std::vector<GuestEntry>& guests, const std::string& policy_file,
                                   Reporter& reporter);

// Adds a warning to the guest of each process whose root is that guest's
// root (the same device and inode) and whose bounding set still holds
// CAP_LINUX_IMMUTABLE.
void add_capability_warnings(std::vector<GuestInfo>& guests, const std::vector<sys::ProcessInfo>& processes);

}  // namespace pkgunify
