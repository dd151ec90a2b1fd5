// The commands package-manager hooks run: sync (after dpkg runs, from the
// dpkg trigger, periodically) and dpkg-release (before dpkg runs).
#pragma once

#include "common.hpp"

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
int cmd_dpkg_release(const CommonOptions& o, const HookOptions& h);

} // namespace pkgunify::cli
