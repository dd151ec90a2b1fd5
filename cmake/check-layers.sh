#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The layer check (cmake/PkgunifyLayers.cmake, ARCHITECTURE.md):
#   check-layers.sh ROOT STAMP "folder=layer,layer|folder=..."
# Fails, printing "file:line: message" for each, when a file of a folder
# includes a header of a layer the folder may not use, a private header
# (<layer>/internal/) of another layer, or a header not named from the
# project's root; and when librpm or libapt-pkg headers appear outside
# core/pkgdb/ and the rpm plugin.
set -eu
root=$1 stamp=$2 rules=$3
layers=$(printf '%s\n' "$rules" | tr '|' '\n' | sed -n 's#^core/\([^=]*\)=.*#\1#p' | tr '\n' ' ')
status=0
for rule in $(printf '%s\n' "$rules" | tr '|' ' '); do
  folder=${rule%%=*}
  allowed=$(printf '%s' "${rule#*=}" | tr ',' ' ')
  own=""
  case $folder in core/*) own=${folder#core/} ;; esac
  files=$(cd "$root" && find "$folder" -name '*.cpp' -o -name '*.hpp' | sort)
  [ -n "$files" ] || continue
  # shellcheck disable=SC2086
  (cd "$root" && awk -v layers=" $layers " -v allowed=" $allowed " -v own="$own" -v folder="$folder" '
    function bad(msg) { printf "%s:%d: %s\n", FILENAME, FNR, msg; errors++ }
    /^[ \t]*#[ \t]*include[ \t]*"/ {
      inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*$/, "", inc)
      if (inc ~ /^[a-z_]+\//) {
        target = inc; sub(/\/.*$/, "", target)
        if (index(layers, " " target " ") == 0) bad("includes \"" inc "\": no layer of core/ is called " target)
        else if (target != own && index(allowed, " " target " ") == 0)
          bad("includes \"" inc "\": layer " target " is not one that " folder " may use (" allowed ")")
        else if (inc ~ /\/internal\// && target != own) bad("includes \"" inc "\": a private header of layer " target)
      } else if (!(folder == "rpm-plugin" && inc == "rpmplugin_compat.h"))
        bad("includes \"" inc "\": name headers from the project root (\"layer/file.hpp\")")
    }
    /^[ \t]*#[ \t]*include[ \t]*<(rpm|apt-pkg)\// {
      if (folder != "core/pkgdb" && folder != "rpm-plugin")
        bad("librpm and libapt-pkg headers belong in core/pkgdb/ (and the rpm plugin) only")
    }
    END { exit errors > 0 }' $files) || status=1
done
if [ $status != 0 ]; then
  echo "layer check failed: ARCHITECTURE.md says what each layer may use" >&2
  exit 1
fi
touch "$stamp"
