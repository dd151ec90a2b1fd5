// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/hook_records.hpp"

#include "sys/exceptions.hpp"

namespace pkgunify {

HookRecords
parse_hook_records(std::string_view input, std::string_view source)
{
  HookRecords out;
  std::size_t record = 0;
  for (std::size_t at = 0; at < input.size(); ++record) {
    const auto bad = [&](std::string_view what) {
      return ConfigError(std::string(source) + ": record " + std::to_string(record + 1) + " is not "
                         + std::string(what));
    };
    const auto end = input.find('\0', at);
    if (end == std::string_view::npos) {
      throw bad("NUL-terminated");
    }
    const std::string_view r = input.substr(at, end - at);
    const auto kind = static_cast<HookRecordKind>(r.empty() ? '\0' : r[0]);
    if (r.size() < 2 || (kind != HookRecordKind::file && kind != HookRecordKind::config) || r[1] != '/') {
      throw bad("\"F/path\" or \"C/path\"");
    }
    if (kind == HookRecordKind::file) {
      out.files.emplace_back(r.substr(1));
    } else {
      out.config.emplace(r.substr(1));
    }
    at = end + 1;
  }
  return out;
}

}  // namespace pkgunify
