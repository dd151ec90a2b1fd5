// SPDX-License-Identifier: GPL-2.0-or-later
// What the engine's YAML files (the policy, the guest registry) share:
// reading the one document of a file, error messages located at a node, and
// the check for repeated keys.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pkgunify::yaml {

// "SOURCE:LINE:COLUMN: MESSAGE" ("SOURCE: MESSAGE" without a mark).
std::string located(std::string_view source, const YAML::Mark& mark, std::string_view message);

// A quoted scalar ("16" or '16': a string, never a number or a boolean).
bool is_quoted(const YAML::Node& node);

// How a value looks, for "expected X, got Y" messages.
std::string describe(const YAML::Node& node);

// The one document of `text`, or nullopt when it has none (empty text or
// only comments). Throws ConfigError "SOURCE:LINE:COLUMN: ..." for a syntax
// error and for a second document.
std::optional<YAML::Node> read_document(std::string_view text, std::string_view source);

// The keys of one mapping seen so far: name, 1-based line.
using SeenKeys = std::vector<std::pair<std::string, int>>;

// Remembers `key` in `seen`; throws ConfigError when it was there already
// ("duplicate key 'K' (first on line N)").
void check_not_seen(SeenKeys& seen, const YAML::Node& key, std::string_view source);

}  // namespace pkgunify::yaml
