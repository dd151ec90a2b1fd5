// SPDX-License-Identifier: GPL-2.0-or-later
// The parsers pkgunify feeds with untrusted or hand-written input, wrapped
// for fuzzing: the policy parser, the dpkg status reader, the dpkg info
// files (.list, .md5sums), the .deb reader, the rpm database reader
// (rpmdb.sqlite, read by librpm) and the .rpm reader. Each target returns "" when
// the input was accepted, or the error message of the clear error it gave
// (pkgunify::Error). Anything else escapes: another exception, a crash, a
// sanitizer report. Used by the libFuzzer executables (fuzz_main.cpp,
// PKGUNIFY_FUZZ=ON) and by the corpus regression test in the unit tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pkgunify::fuzz {

struct Target
{
  const char* name;  // also the corpus directory: tests/fuzz/corpus/<name>/
  // Runs one input; returns "" or the error message.
  std::string (*run)(std::string_view data);
  // What every error message must contain: the file (and, where the format
  // has lines, "line"-style position) the input came from.
  const char* names_file;
};

const std::vector<Target>& targets();

// A target by name; nullptr when unknown.
const Target* find_target(std::string_view name);

// Where the targets write inputs that their reader takes from files (a fresh
// directory below $TMPDIR, created once per process and removed at exit).
const std::string& work_dir();

}  // namespace pkgunify::fuzz
