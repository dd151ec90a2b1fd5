# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Sourced by the tests that install the Debian packages on this host
# (tests/packaging/run, tests/packaging/upgrade): checks that the host can
# run them and is not set up with pkgunify already, takes the host-wide test
# lock, mounts a tmpfs for the guests and their default store, and on exit
# purges every pkgunify package, unmounts and removes what it made. Also the
# helpers the tests share: checks of unified files, test packages built with
# dpkg-deb and rpmbuild, dpkg and rpm runs in guests.
#
# Usage (bash, set -euo pipefail): . common.bash; packaging_test_setup DEBDIR...
# Sets work, fs (the tmpfs), store (its default store), ours (our packages).

skip() { echo "SKIP: $*"; exit 77; }
passed=0
ok() { passed=$((passed + 1)); echo "ok $passed - $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# These tests exercise the installed hooks: an environment that turns them
# off (the integration tests' does, pkgunify(8) ENVIRONMENT) must not.
unset PKGUNIFY_HOOKS

ours="pkgunify rpm-plugin-pkgunify pkgunify-dpkg-hook pkgunify-guest"
work=
fs=
store=
log_backup=

packaging_test_setup() { # DEBDIR...
  [ "$(id -u)" = 0 ] || skip "needs root: installs packages with dpkg -i and mounts a tmpfs"
  local tool dir p f
  for tool in dpkg dpkg-deb rpm rpmbuild lsattr chattr mount flock systemd-analyze; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
  done
  for dir; do
    ls "$dir"/pkgunify_*.deb >/dev/null 2>&1 || skip "no packages in $dir (packaging/build-deb did not run)"
  done
  # One run at a time on a host (ctest runs these tests RUN_SERIAL within
  # one suite; this also orders runs of several checkouts), before looking
  # at the host.
  mkdir -p /run/lock
  exec 9>/run/lock/pkgunify-packaging-test.lock
  flock 9
  for p in $ours; do
    if dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
      skip "$p is already installed on this host; the test installs and purges it and leaves a host it did not set up alone"
    fi
  done
  for f in /usr/bin/pkgunify /usr/bin/pkgunify-guest /etc/pkgunify /etc/dpkg/dpkg.cfg.d/pkgunify \
    /etc/dpkg/dpkg.cfg.d/pkgunify-guest /var/lib/pkgunify; do
    [ ! -e "$f" ] || skip "$f exists (pkgunify installed by hand?); the test would overwrite and then remove it"
  done
  # The host is no guest: neither the hook (host runs) nor the test may make
  # a store at the top of its root filesystem.
  [ ! -e /.pkgunify-store ] || skip "/.pkgunify-store exists; the test checks that the host gets none"

  work=$(mktemp -d /tmp/pkgunify-packaging-test.XXXXXX)
  fs=$work/fs
  trap packaging_test_cleanup EXIT
  # The hooks and the rpm worker log to /var/log/pkgunify.log, which purging
  # removes; keep one that was there before.
  if [ -e /var/log/pkgunify.log ]; then
    log_backup=$work/pkgunify.log.before
    cp -p /var/log/pkgunify.log "$log_backup"
  fi
  mkdir -p "$fs"
  mount -t tmpfs -o size=256m,mode=0755 pkgunify-test "$fs" || skip "cannot mount a tmpfs"
  touch "$fs/probe"
  chattr +i "$fs/probe" 2>/dev/null || skip "tmpfs has no immutable flag on this kernel (the default policy's link mode)"
  chattr -i "$fs/probe"
  rm "$fs/probe"
  store=$fs/.pkgunify-store
}

packaging_test_cleanup() {
  set +e
  local purge="" p
  for p in $ours; do
    dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "installed" && purge="$purge $p"
  done
  # shellcheck disable=SC2086
  [ -z "$purge" ] || dpkg --purge $purge >/dev/null 2>&1
  mountpoint -q "$fs" && umount "$fs"
  [ -z "$log_backup" ] || mv "$log_backup" /var/log/pkgunify.log
  rm -rf "$work"
  # There was none at the start (packaging_test_setup): one made while the
  # test ran is a failure it reported, and must not stay on the host.
  if [ -e /.pkgunify-store ]; then
    echo "removing /.pkgunify-store, made while the test ran" >&2
    chattr -R -i /.pkgunify-store 2>/dev/null
    rm -rf /.pkgunify-store
  fi
}

host_left_alone() { # WHEN
  [ ! -e /.pkgunify-store ] || fail "$1: the host got a store, /.pkgunify-store"
}

ino() { stat -c %i "$1"; }
nlink() { stat -c %h "$1"; }
immutable() { lsattr -d "$1" 2>/dev/null | cut -d' ' -f1 | grep -q i; }
has_object() { find "$store/objects" -inum "$(ino "$1")" | grep -q .; }
same_file() { # A B: one inode, a store object, immutable (the default policy)
  [ "$(ino "$1")" = "$(ino "$2")" ] && has_object "$1" && immutable "$1"
}
private_file() { # A B: two inodes, one link each
  [ "$(ino "$1")" != "$(ino "$2")" ] && [ "$(nlink "$1")" = 1 ] && [ "$(nlink "$2")" = 1 ]
}
# dpkg output must have no hook message (a hook problem, a missing binary,
# a line of the guest's client)
# and no error or warning; but for the one warning dpkg gives when it
# removes the plugin: /usr/lib64, which rpm's %{__plugindir} is below, also
# holds libc6's dynamic loader (merged /usr).
quiet_run() { # WHAT CMD...
  local what=$1 out
  shift
  out=$("$@" 2>&1) || fail "$what failed:
$out"
  if grep -Ei "pkgunify: |pkgunify-guest: |not found|error|warning" <<<"$out" |
     grep -v "^dpkg: warning: while removing rpm-plugin-pkgunify, directory '/usr/lib64' not empty so not removed$"; then
    fail "$what printed hook messages:
$out"
  fi
}

# --- test packages: built with dpkg-deb and rpmbuild, fixed mtimes -------
mkdeb() { # NAME VERSION
  local tree=$work/deb-$1-$2
  mkdir -p "$tree/DEBIAN" "$tree/usr/bin" "$tree/usr/lib/$1" "$tree/etc"
  head -c 30000 /dev/zero | tr '\0' b >"$tree/usr/bin/$1"
  echo "$2" >>"$tree/usr/bin/$1"
  chmod 755 "$tree/usr/bin/$1"
  head -c 5000 /dev/zero | tr '\0' s >"$tree/usr/lib/$1/same.dat"
  echo "conf $2" >"$tree/etc/$1.conf"
  echo "conffile outside etc $2" >"$tree/usr/lib/$1/outside.conf"
  printf '/etc/%s.conf\n/usr/lib/%s/outside.conf\n' "$1" "$1" >"$tree/DEBIAN/conffiles"
  printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: t <t@example.invalid>\nDescription: test\n' \
    "$1" "$2" >"$tree/DEBIAN/control"
  find "$tree" -exec touch -h -d @1700000000 {} +
  dpkg-deb --root-owner-group -Zgzip --build "$tree" "$work/$1_$2_all.deb" >/dev/null
  echo "$work/$1_$2_all.deb"
}
mkrpm() { # NAME VERSION
  local top=$work/rpmbuild-$1-$2
  mkdir -p "$top/SPECS" "$top/tree/usr/bin" "$top/tree/etc"
  head -c 40000 /dev/zero | tr '\0' r >"$top/tree/usr/bin/$1"
  echo "$2" >>"$top/tree/usr/bin/$1"
  chmod 755 "$top/tree/usr/bin/$1"
  echo "conf $2" >"$top/tree/etc/$1.conf"
  find "$top/tree" -exec touch -h -d @1700000000 {} +
  cat >"$top/SPECS/p.spec" <<EOF
%define __os_install_post %{nil}
%define debug_package %{nil}
%define _build_id_links none
Name: $1
Version: $2
Release: 1
Summary: test
License: MIT
BuildArch: noarch
%description
test
%install
mkdir -p %{buildroot}
cp -a $top/tree/. %{buildroot}/
%files
/usr/bin/$1
%config(noreplace) /etc/$1.conf
EOF
  rpmbuild --define "_topdir $top" -bb "$top/SPECS/p.spec" >"$top/build.log" 2>&1 ||
    fail "rpmbuild of the test package: $(cat "$top/build.log")"
  echo "$top/RPMS/noarch/$1-$2-1.noarch.rpm"
}
dpkg_guest() { mkdir -p "$1/var/lib/dpkg/info" "$1/var/lib/dpkg/updates"; : >"$1/var/lib/dpkg/status"; : >"$1/var/lib/dpkg/available"; }
dpkg_in() { local g=$1; shift; dpkg --root="$g" --log=/dev/null "$@"; }
rpm_in() { local g=$1; shift; rpm --root "$g" "$@"; }
# rpm in a guest: no error, nothing from pkgunify (Debian's rpm warns that
# it is not apt, which is no concern here).
rpm_quiet() { # ROOT ARGS...
  local out
  out=$(rpm_in "$@" 2>&1) || fail "rpm --root $*: $out"
  if grep -Eiv "^rpm: (RPM should not be used directly install RPM packages, use Alien instead!|However assuming you know what you are doing...)$" <<<"$out" | grep .; then
    fail "rpm --root $* printed the lines above"
  fi
}
