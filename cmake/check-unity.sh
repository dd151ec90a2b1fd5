#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# check-unity.sh ROOT DIR...: the sources of a unity-built target (DIR, under
# ROOT, with its subdirectories; core/cli/CMakeLists.txt) compile to the same
# program in batches as each alone. A batch is one translation unit, so what
# one file declares at namespace scope is seen by the files after it. The
# compiler rejects a second definition of the same function, class or
# constant; what it would accept silently is checked here:
# - a free function name defined in two files: batched, a call could pick
#   the other file's overload;
# - `using namespace`, a using-declaration or a namespace alias at namespace
#   scope, and #define:
#   batched, they reach the files after theirs.
# In this code's style (.clang-format) namespaces are not indented, and a
# function's name starts its line, after the line of its return type.
# Prints "file:line: ..." for each and fails.
set -eu
root=$1
shift
cd "$root"
# One awk for all files: the names of every file are compared.
# shellcheck disable=SC2046 # the tree's file names have no blanks
set -- $(find "$@" -name '*.cpp' | sort)
[ $# -gt 0 ] || { echo "check-unity.sh: no .cpp files" >&2; exit 2; }
awk '
  /^[A-Za-z_][A-Za-z_0-9]*\(/ {
    name = $0; sub(/\(.*/, "", name)
    if (name in where && where[name] != FILENAME) {
      printf "%s:%d: function %s is also defined in %s\n", FILENAME, FNR, name, where[name]; bad++
    }
    where[name] = FILENAME
  }
  /^(using namespace |namespace [A-Za-z_0-9]+ *=|using [^=]*;)/ {
    printf "%s:%d: namespace-scope \"%s\" reaches the files batched after it\n", FILENAME, FNR, $0; bad++
  }
  /^[ \t]*#[ \t]*define[ \t]/ {
    printf "%s:%d: #define reaches the files batched after it\n", FILENAME, FNR; bad++
  }
  END { if (bad) { printf "unity check: %d problem(s)\n", bad; exit 1 } }' "$@"
