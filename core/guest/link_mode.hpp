// SPDX-License-Identifier: GPL-2.0-or-later
// The link modes (docs/link-modes.md) and how objects are created: the two
// enums policies, the command line and the hooks name, each with its one
// table of names.
#pragma once

#include "sys/enum_names.hpp"

#include <optional>
#include <string_view>

namespace pkgunify {

// How unified files are protected.
enum class LinkMode {
  auto_select,  // iunlink where the kernel has it, else the policy's fallback
  iunlink,      // Linux-VServer immutable + iunlink attributes
  immutable,    // FS_IMMUTABLE_FL; lifted briefly to add links; `release`
  reflink,      // separate inodes sharing extents (btrfs, XFS)
  hardlink,     // plain hard links, no protection
};

inline constexpr sys::EnumNames<LinkMode, 5> k_link_mode_names{{{
  {LinkMode::auto_select, "auto"},
  {LinkMode::iunlink, "iunlink"},
  {LinkMode::immutable, "immutable"},
  {LinkMode::reflink, "reflink"},
  {LinkMode::hardlink, "hardlink"},
}}};

// How a new object is made: a copy of the guest file, or the guest's inode
// itself.
enum class CreateMode { copy, adopt };

inline constexpr sys::EnumNames<CreateMode, 2> k_create_mode_names{{{
  {CreateMode::copy, "copy"},
  {CreateMode::adopt, "adopt"},
}}};

inline std::string_view
to_string(LinkMode mode)
{
  return k_link_mode_names.name(mode);
}

inline std::string_view
to_string(CreateMode mode)
{
  return k_create_mode_names.name(mode);
}

// "auto", "iunlink", "immutable", "reflink", "hardlink"; nullopt otherwise.
inline std::optional<LinkMode>
parse_link_mode(std::string_view name)
{
  return k_link_mode_names.parse(name);
}

}  // namespace pkgunify
