// The commands that use package databases: pkg, list, inspect, verify.
#pragma once

#include "cli/common.hpp"

#include <string>
#include <vector>

namespace pkgunify::cli {

int cmd_pkg(const CommonOptions& o, const std::string& root, const std::vector<std::string>& names,
            const ScanFlags& flags);
int cmd_list(const CommonOptions& o, const std::string& root, const std::vector<std::string>& names);
int cmd_inspect(const CommonOptions& o, const std::vector<std::string>& files);
int cmd_verify(const CommonOptions& o, const std::vector<std::string>& roots);

}  // namespace pkgunify::cli
