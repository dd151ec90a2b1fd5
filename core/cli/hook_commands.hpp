// The commands package-manager hooks run: sync (after dpkg runs, from the
// dpkg trigger, periodically) and dpkg-release (before dpkg runs).
#pragma once

#include "cli/common.hpp"

#include <string>

namespace pkgunify::cli {

struct HookOptions
{
  std::string root;       // empty: $DPKG_ROOT, else "/"
  std::string state_dir;  // empty: /var/lib/pkgunify/sync
  std::string log;        // hook mode: also append messages here
  bool hook = false;      // never fail: exit 0 whatever happens
};

int cmd_sync(const CommonOptions& o, const HookOptions& h);

// `pkgunify unify-files`: unifies the files a transaction installed, listed
// on standard input as NUL-terminated records "F<path>" (a file the
// transaction wrote) or "C<path>" (a config file of its packages: never
// unified). What the rpm plugin's worker runs. `check_only`: only check the
// policy and link mode, and remember a success (see background.hpp).
int cmd_unify_files(const CommonOptions& o, const HookOptions& h, bool check_only);
int cmd_dpkg_release(const CommonOptions& o, const HookOptions& h);

}  // namespace pkgunify::cli
