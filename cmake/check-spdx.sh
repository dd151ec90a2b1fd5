#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# check-spdx.sh ROOT: fails, naming the files, when a file git tracks in ROOT
# does not start with the licence line (LICENSE, README "Licence"):
#
#   // SPDX-License-Identifier: GPL-2.0-or-later      C++ (.cpp, .hpp, .h)
#   .\" SPDX-License-Identifier: GPL-2.0-or-later     man pages (man/*.N)
#   # SPDX-License-Identifier: GPL-2.0-or-later       everything else
#
# as its first line, or as its second after a "#!" line. Symbolic links are
# left out (their target is checked), and so are the files below that are
# data or package metadata, with no room for a comment or whose bytes matter.
# Exit status 77 (skip) outside a git checkout: the test needs to know which
# files are tracked.
set -eu
cd "$1"
git rev-parse --is-inside-work-tree > /dev/null 2>&1 || { echo "not a git checkout: skipped"; exit 77; }

exempt() {
  case $1 in
    LICENSE | *.md) return 0 ;;                              # the licence text, documentation
    tests/fuzz/corpus/*) return 0 ;;                         # fuzzer inputs: data
    packaging/debian/changelog | packaging/debian/control | packaging/debian/copyright) return 0 ;;
    packaging/debian/source/format | packaging/debian/*.install) return 0 ;;
  esac
  return 1
}

line='SPDX-License-Identifier: GPL-2.0-or-later'
bad=$(git ls-files -z | xargs -0 sh -c '
  for f; do
    { [ -f "$f" ] && [ ! -L "$f" ]; } || continue
    printf "%s\n" "$f"
  done' sh | while IFS= read -r f; do
  exempt "$f" && continue
  case $f in
    *.cpp | *.hpp | *.h) want="// $line" ;;
    man/*.[1-9]) want=".\\\" $line" ;;
    *.svg) want="<!-- $line -->" ;;
    *) want="# $line" ;;
  esac
  first=$(head -n 1 "$f")
  case $first in
    '#!'*) got=$(sed -n 2p "$f") ;;
    *) got=$first ;;
  esac
  [ "$got" = "$want" ] || echo "$f: no \"$want\" line at the top"
done)
if [ -n "$bad" ]; then
  echo "$bad"
  echo "licence check: $(echo "$bad" | wc -l) file(s) without the SPDX line (see cmake/check-spdx.sh)"
  exit 1
fi
echo "licence check: every tracked source file has the SPDX line"
