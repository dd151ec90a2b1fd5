// SPDX-License-Identifier: GPL-2.0-or-later
// The temporary names pkgunify gives files inside guest directories while
// it replaces them, and how a later run recognises leftovers of an
// interrupted one.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pkgunify {

// Name prefix of the temporary names pkgunify creates inside guest
// directories; a later run removes leftovers of interrupted runs. Short, so
// that the temporary entry next to a file rarely makes a full directory
// block overflow (ext4 directories never shrink again).
inline constexpr std::string_view k_guest_tmp_prefix = ".#pku.";
// The temporary names of pkgunify before 2026-11-22: ".#pkgunify.<16 hex>.<name>",
// still recognized as leftovers.
inline constexpr std::string_view k_legacy_guest_tmp_prefix = ".#pkgunify.";

// Temporary name next to `name`: ".#pku.<8 hex>.<name>" (the name is left
// out when it would not fit).
std::string guest_temp_name(std::string_view name);

// For a temporary name of guest_temp_name (or of the legacy form), the
// original name, empty when it was left out; nullopt for every other name.
std::optional<std::string> guest_temp_original(std::string_view name);

}  // namespace pkgunify
