// SPDX-License-Identifier: GPL-2.0-or-later
// PLACEHOLDER until the registry branch lands: the API of the guest registry.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

struct GuestEntry
{
  std::string name;
  std::string root;
  std::string policy;
  std::string file;
};

struct GuestRegistry
{
  std::vector<GuestEntry> guests;
  std::vector<std::string> errors;
};

std::string guests_dir();
bool valid_guest_name(std::string_view name);
GuestRegistry load_guests(const std::string& dir);

}  // namespace pkgunify
