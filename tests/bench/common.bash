# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the benchmark scripts (sourced).

# The archive of this machine's apt sources that carries SUITE (deb822
# .sources files and one-line .list files alike): debootstrap fetches from
# the same place apt-get does, and no mirror's name is written here.
apt_mirror() { # suite
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    case $f in
      *.sources)
        awk -v suite="$1" 'BEGIN { RS = ""; FS = "\n" }
          { uri = ""; ok = 0; deb = 0
            for (i = 1; i <= NF; i++) {
              if ($i ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb = 1
              if ($i ~ /^URIs:/) { split($i, u, /[ \t]+/); uri = u[2] }
              if ($i ~ /^Suites:/) { n = split($i, w, /[ \t]+/); for (j = 2; j <= n; j++) if (w[j] == suite) ok = 1 }
            }
            if (deb && ok && uri != "") { print uri; exit } }' "$f" ;;
      *)
        awk -v suite="$1" '$1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++;
          if ($(i + 1) == suite) { print $i; exit } }' "$f" ;;
    esac
  done | head -1
}
