// SPDX-License-Identifier: GPL-2.0-or-later
// The commands of pkgunify, one unit each (commands/NAME.cpp).
#pragma once

#include "cli/command.hpp"

#include <memory>
#include <vector>

namespace pkgunify::cli {

std::unique_ptr<Command> make_scan_command();
std::unique_ptr<Command> make_pkg_command();
std::unique_ptr<Command> make_list_command();
std::unique_ptr<Command> make_inspect_command();
std::unique_ptr<Command> make_verify_command();
std::unique_ptr<Command> make_sync_command();
std::unique_ptr<Command> make_dpkg_release_command();
std::unique_ptr<Command> make_unify_files_command();
std::unique_ptr<Command> make_wait_command();
std::unique_ptr<Command> make_split_command();  // split and release
std::unique_ptr<Command> make_status_command();
std::unique_ptr<Command> make_store_command();  // store stats, fsck, gc, unprotect
std::unique_ptr<Command> make_agent_command();
std::unique_ptr<Command> make_guest_command();  // guest add, remove, list

// Every command, in the order `pkgunify --help` lists them.
std::vector<std::unique_ptr<Command>> make_commands();

}  // namespace pkgunify::cli
