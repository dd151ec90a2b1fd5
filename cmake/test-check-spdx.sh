#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# test-check-spdx.sh CHECKER: check-spdx.sh on a small git repository of its
# own names exactly the files without the licence line (missing, another
# licence, below a "#!" line that is not the first) and passes once they
# have it; exempt files and symbolic links are left out. Exit status 77
# (skip) without git.
set -eu
checker=$1
command -v git > /dev/null 2>&1 || { echo "git is not installed: skipped"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pkgunify-spdx-test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
spdx='SPDX-License-Identifier: GPL-2.0-or-later'

cd "$work"
git init -q .
mkdir -p core man scripts tests/fuzz/corpus docs
printf '// %s\n#pragma once\n' "$spdx" > core/good.hpp
printf '#!/bin/sh\n# %s\necho hi\n' "$spdx" > scripts/good
printf '.\\" %s\n.TH X 8\n' "$spdx" > man/good.8
printf '# %s\ncmake_minimum_required(VERSION 3.25)\n' "$spdx" > CMakeLists.txt
printf 'no line at all\n' > tests/fuzz/corpus/data
printf '# notes\n' > docs/notes.md
ln -s scripts/good link-to-good
printf '#pragma once\n' > core/missing.hpp
printf '// SPDX-License-Identifier: GPL-2.0-only\n' > core/other-licence.cpp
printf '#!/bin/sh\necho hi\n# %s\n' "$spdx" > scripts/too-late
printf '# %s\n.TH Y 8\n' "$spdx" > man/wrong-comment.8
git add -A
git -c user.name=t -c user.email=t@example.invalid commit -qm files
# Untracked: not looked at.
printf 'scratch\n' > untracked.txt

status=0
out=$(sh "$checker" "$work") || status=$?
[ "$status" = 1 ] || fail "status $status for a tree with bad files, expected 1: $out"
named=$(echo "$out" | sed -n 's/: no ".*//p' | sort | tr '\n' ' ')
[ "$named" = "core/missing.hpp core/other-licence.cpp man/wrong-comment.8 scripts/too-late " ] ||
  fail "named '$named', expected the four bad files: $out"
echo "ok: the four files without the line are named, nothing else"

for f in core/missing.hpp core/other-licence.cpp; do printf '// %s\n' "$spdx" > "$f"; done
printf '.\\" %s\n.TH Y 8\n' "$spdx" > man/wrong-comment.8
printf '#!/bin/sh\n# %s\necho hi\n' "$spdx" > scripts/too-late
out=$(sh "$checker" "$work") || fail "status $? once every file has the line: $out"
echo "ok: passes once every file has the line"
