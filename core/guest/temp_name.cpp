// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/temp_name.hpp"

#include "sys/fs.hpp"

namespace pkgunify {

std::string
guest_temp_name(std::string_view name)
{
  std::string out(k_guest_tmp_prefix);
  out += sys::random_hex(4);
  if (out.size() + 1 + name.size() <= 255) {
    out += '.';
    out += name;
  }
  return out;
}

std::optional<std::string>
guest_temp_original(std::string_view name)
{
  std::size_t digits = 0;
  if (name.starts_with(k_guest_tmp_prefix)) {
    name.remove_prefix(k_guest_tmp_prefix.size());
    digits = 8;
  } else if (name.starts_with(k_legacy_guest_tmp_prefix)) {
    name.remove_prefix(k_legacy_guest_tmp_prefix.size());
    digits = 16;
  } else {
    return std::nullopt;
  }
  if (name.size() < digits) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < digits; ++i) {
    const char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
  }
  name.remove_prefix(digits);
  if (name.empty()) {
    return std::string();
  }
  if (name.size() < 2 || name[0] != '.') {
    return std::nullopt;
  }
  return std::string(name.substr(1));
}

}  // namespace pkgunify
