// SPDX-License-Identifier: GPL-2.0-or-later
// Shared pieces of the reliability tests (test_reliability.cpp): guest trees
// with every kind of file pkgunify must keep intact, the comparison that
// says whether a guest lost anything, and the trial counter whose totals the
// long suite (tests/reliability/run) prints.
#pragma once

#include "harness.hpp"

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace pkgunify::itest::reliability {

// How many trials of each kind a test runs: `fast` in the normal test run,
// PKGUNIFY_RELIABILITY_TRIALS when set (the long suite sets it).
int trials(int fast);

// The random generator of a test: seeded from PKGUNIFY_RELIABILITY_SEED when
// set, else at random; the seed is recorded as a test property and printed
// so that a failing run can be repeated.
std::mt19937_64 make_rng(const std::string& test);

// A guest tree: shared files (identical in every guest, some larger than the
// 1 MiB in-memory limit so both copy paths run), files of one guest only,
// symlinks, a fifo, setuid/sticky/private modes, another owner, user and
// privileged xattrs, an /etc file (never unified), and names with odd bytes.
// Every path is listed in `files` (relative to the root, without the leading
// slash) when it is a regular candidate file.
struct GuestTree
{
  std::vector<std::string> files;
};

GuestTree write_guests(const std::vector<std::string>& roots, std::mt19937_64& rng, std::size_t shared = 40,
                       std::size_t unique = 10);

// What a guest must look like after any run, killed or not: every path of
// `before` with its type, content, mode, owner, mtime, xattrs and symlink
// target. Inode numbers, link counts, protection flags and directory mtimes
// are what pkgunify changes by design. With `temps_allowed`, extra names
// beginning with ".#pkgunify." are accepted (an interrupted run's
// temporaries, before the next run cleans them).
std::vector<std::string> guest_problems(const Snapshot& before, const Snapshot& after, bool temps_allowed);

// One line per kind of trial, printed at the end of a test and appended to
// $PKGUNIFY_RELIABILITY_REPORT when set:
//   reliability: KIND trials=N killed=K mid_work=M finished=F lost=L failed=X
struct Tally
{
  std::string kind;
  int trials = 0;
  int killed = 0;    // the process was still running when SIGKILL came
  int mid_work = 0;  // killed with part of the work done (temporaries left, some files or objects changed)
  int finished = 0;  // it had exited before
  int lost = 0;      // trials in which a guest lost or changed a path
  int failed = 0;    // trials with any other failed check (fsck, leftovers)

  void print() const;
};

// Starts `args` (stdout and stderr to `log`), sends SIGKILL after `delay`
// and reaps it. True when the process was still running at that moment.
bool run_and_kill(const std::vector<std::string>& args, std::chrono::microseconds delay, const std::string& log);

}  // namespace pkgunify::itest::reliability
