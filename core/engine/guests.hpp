// SPDX-License-Identifier: GPL-2.0-or-later
// The registry of the host's guests: one file per guest,
// GUESTS_DIR/NAME.yaml (GUESTS_DIR: /etc/pkgunify/guests.d, or
// $PKGUNIFY_GUESTS_DIR), holding its root and, optionally, its policy:
//
//   root: /srv/guests/web
//   policy: /etc/pkgunify/web.yaml
//
// `pkgunify guest add|remove|list` keep it, `scan --all` and `status --all`
// act on every guest in it, and the host agent serves each guest it names
// (docs/guests.md).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace pkgunify {

inline constexpr const char* k_default_guests_dir = "/etc/pkgunify/guests.d";

struct GuestEntry
{
  std::string name;    // the file's name without ".yaml"
  std::string root;    // absolute
  std::string policy;  // absolute; empty: the run's policy
  std::string file;    // the registry file it came from
};

struct GuestRegistry
{
  std::vector<GuestEntry> guests;   // sorted by name
  std::vector<std::string> errors;  // one complete message per broken file ("FILE:LINE:COLUMN: ...")
};

// $PKGUNIFY_GUESTS_DIR when set and not empty, else k_default_guests_dir.
std::string guests_dir();

// [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, and not "." or "..".
bool valid_guest_name(std::string_view name);

// Parses the text of a registry file; `path` names it in messages and gives
// the guest its name (its base name without ".yaml"). Throws ConfigError
// "PATH:LINE:COLUMN: ..." for bad YAML, an unknown or repeated key, a
// missing root, a value that is no absolute path; "PATH: ..." for a file
// name that is no guest name.
GuestEntry parse_guest_file(std::string_view text, const std::string& path);

// Reads and parses a registry file (a regular file, at most 64 KiB). Throws
// ConfigError naming the file (and the line).
GuestEntry load_guest_file(const std::string& path);

// Every guest of `dir`, sorted by name. A missing `dir` has no guests; a
// broken file is one entry of `errors` and leaves the others alone; names
// that do not end in ".yaml" (editor backups, .dpkg-old, the temporary files
// of add_guest) are ignored. Throws ConfigError when `dir` cannot be read.
GuestRegistry load_guests(const std::string& dir);

// Registers `g` (name, root and policy; `file` is ignored) as dir/NAME.yaml,
// creating `dir` (0755) when missing: written to a temporary file, fsynced,
// renamed into place without replacing anything, the directory fsynced, all
// under an exclusive lock of `dir`. Throws ConfigError, with nothing
// written, for a bad name, a relative root or policy, a root that is no
// existing directory or is the host's "/", a policy that does not load, and
// a name or a root (the same directory: device and inode) registered
// already.
void add_guest(const std::string& dir, const GuestEntry& g);

// Removes dir/NAME.yaml (under the lock); false when no guest of that name
// is registered. Throws ConfigError for a bad name, Error when it cannot be
// removed.
bool remove_guest(const std::string& dir, const std::string& name);

// Where the host agent serves guest `name`: RUNTIME/guests/NAME/agent.sock
// (RUNTIME: guest/runtime.hpp, runtime_dir_path()).
std::string guest_agent_socket(const std::string& name);

// The guests `scan --all` and `status --all` act on together: one scan (and
// one store) per filesystem and policy.
struct GuestGroup
{
  std::string policy_file;  // the guests' policy; empty: the run's (load_run_policy)
  dev_t dev = 0;            // the filesystem of their roots
  std::string store;        // the group's store (filesystem_store_path)
  std::vector<GuestEntry> guests;
};

// The roots of the group's guests, in its order.
std::vector<std::string> guest_roots(const GuestGroup& group);

// A guest group_guests leaves out, and why.
struct GuestProblem
{
  std::string guest;    // its name
  std::string message;  // complete: "guest NAME: ..."
};

struct GuestGroups
{
  std::vector<GuestGroup> groups;    // in the order of their first guest
  std::vector<GuestProblem> errors;  // guests left out
};

// Groups `guests` by the filesystem of their root and their policy file
// (the guest's own, else `policy_file`, the run's --policy; empty: as
// load_run_policy says). A guest whose root is no directory, whose policy
// does not load, or whose group's store would lie inside a guest root is
// left out with an error naming it.
GuestGroups group_guests(const std::vector<GuestEntry>& guests, const std::string& policy_file);

}  // namespace pkgunify
