// SPDX-License-Identifier: GPL-2.0-or-later
// One libFuzzer executable per target: fuzz_<target>, built with
// -DPKGUNIFY_FUZZ=ON by clang (see docs/reliability.md). An error message
// that does not name its file counts as a finding, like a crash.
#include "targets.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#ifndef PKGUNIFY_FUZZ_TARGET
#error "PKGUNIFY_FUZZ_TARGET must name the target"
#endif

extern "C" int
LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
  static const pkgunify::fuzz::Target* target = pkgunify::fuzz::find_target(PKGUNIFY_FUZZ_TARGET);
  if (!target) {
    std::abort();
  }
  const std::string error = target->run({reinterpret_cast<const char*>(data), size});
  if (!error.empty() && error.find(target->names_file) == std::string::npos) {
    std::fprintf(stderr, "error message does not name the input file (%s): %s\n", target->names_file, error.c_str());
    std::abort();
  }
  return 0;
}
