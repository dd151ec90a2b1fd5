// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/commands/commands.hpp"

namespace pkgunify::cli {

std::vector<std::unique_ptr<Command>>
make_commands()
{
  std::vector<std::unique_ptr<Command>> all;
  for (auto make :
       {make_scan_command, make_pkg_command, make_list_command, make_inspect_command, make_verify_command,
        make_sync_command, make_dpkg_release_command, make_unify_files_command, make_wait_command, make_split_command,
        make_status_command, make_store_command, make_guest_command, make_agent_command}) {
    all.push_back(make());
  }
  return all;
}

}  // namespace pkgunify::cli
