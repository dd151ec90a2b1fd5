#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# check-format.sh ROOT: fails, naming the files, when a C++ file of core/,
# rpm-plugin/, guest-client/ or tests/ is not formatted as .clang-format
# says. Exit status 77 (skip) without clang-format.
set -eu
cd "$1"
command -v clang-format > /dev/null 2>&1 || { echo "clang-format is not installed: skipped"; exit 77; }
bad=$(find core rpm-plugin guest-client tests -name '*.cpp' -o -name '*.hpp' -o -name '*.h' | sort | while read -r f; do
  clang-format --style=file "$f" | cmp -s - "$f" || echo "$f"
done)
if [ -n "$bad" ]; then
  printf '%s: not formatted as .clang-format says (clang-format -i FILE)\n' $bad
  exit 1
fi
