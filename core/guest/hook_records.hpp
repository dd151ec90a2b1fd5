// SPDX-License-Identifier: GPL-2.0-or-later
// The records a package-manager hook hands to `pkgunify unify-files` on its
// standard input: one per file the transaction wrote, each the kind's
// letter, the path inside the root, and a NUL ("F/usr/bin/ls\0" a file,
// "C/etc/ls.conf\0" a config file of its packages, never unified). The rpm
// plugin writes them, the command parses them.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace pkgunify {

enum class HookRecordKind : char {
  file = 'F',    // a file the transaction wrote
  config = 'C',  // a config file of its packages
};

// Appends the record of `path` (absolute within the root, no NUL).
inline void
append_hook_record(std::string& out, HookRecordKind kind, std::string_view path)
{
  out += static_cast<char>(kind);
  out += path;
  out += '\0';
}

struct HookRecords
{
  std::vector<std::string> files;          // in the order given, repeats kept
  std::unordered_set<std::string> config;  // config files
};

// Parses records; `source` names the input in messages. Throws ConfigError
// "SOURCE: record N is not NUL-terminated" or "SOURCE: record N is not
// \"F/path\" or \"C/path\"" (N counts from 1).
HookRecords parse_hook_records(std::string_view input, std::string_view source);

}  // namespace pkgunify
