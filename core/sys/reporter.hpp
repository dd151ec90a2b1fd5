// SPDX-License-Identifier: GPL-2.0-or-later
// The third error channel (ARCHITECTURE.md): per-file failures and warnings
// are reported and counted, and the operation goes on with the next file.
// Knows nothing of the domain; the CLI prints, the hooks log.
#pragma once

#include <string_view>

namespace pkgunify {

class Reporter
{
public:
  virtual ~Reporter() = default;
  // Called from any thread; implementations serialise.
  virtual void error(std::string_view message) = 0;
  virtual void warning(std::string_view message) = 0;
};

}  // namespace pkgunify
