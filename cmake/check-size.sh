#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The size check (ARCHITECTURE.md, "Size"): check-size.sh ROOT [MAX_BODY
# [MAX_FILE]]. In this code's style (.clang-format) a function body opens
# with a brace alone on its line, after a line ending in ")" (or "const",
# "override", "noexcept"), and closes at the next line with the same
# indentation that starts with "}"; control statements keep their brace on
# their line. Fails, printing "file:line: ..." for each, when a function body
# in core/, rpm-plugin/ or guest-client/ is longer than MAX_BODY lines
# (default 60) or a source file longer than MAX_FILE lines (default 700).
set -eu
root=$1 max_body=${2:-60} max_file=${3:-700}
cd "$root"
find core rpm-plugin guest-client -name '*.cpp' -o -name '*.hpp' | sort | xargs awk -v max_body="$max_body" -v max_file="$max_file" '
  function indent(s) { match(s, /^ */); return RLENGTH }
  FNR == 1 { if (prevfile != "" && lines > max_file) { printf "%s:1: %d lines, more than %d\n", prevfile, lines, max_file; bad++ }
             prevfile = FILENAME; open = 0; prev = "" }
  { lines = FNR }
  open == 0 && /^ *\{$/ && prev ~ /[)}]( *(const|noexcept|override|final))* *$/ && prev !~ /^ *(namespace|struct|class|enum|union)( |$)/ {
    open = FNR; width = indent($0); next
  }
  open > 0 && /^ *}/ && indent($0) == width {
    body = FNR - open - 1
    if (body > max_body) { printf "%s:%d: function body of %d lines, more than %d\n", FILENAME, open, body, max_body; bad++ }
    open = 0
  }
  !/^ *$/ { prev = $0 }
  END { if (lines > max_file) { printf "%s:1: %d lines, more than %d\n", prevfile, lines, max_file; bad++ }
        if (bad) { printf "size check: %d function(s) or file(s) too long\n", bad; exit 1 } }'
