// SPDX-License-Identifier: GPL-2.0-or-later
// Linked into unit_tests and integration_tests. The pkgunify packages may be
// installed on the host that runs the tests: their dpkg hook lines
// (/etc/dpkg/dpkg.cfg.d/pkgunify) and rpm plugin would act on the tests' own
// `dpkg --root` and `rpm --root` runs, unify the tests' guests with the
// host's policy into the host's store (/.pkgunify-store when /tmp is on the
// root filesystem) and keep sync state in /var/lib/pkgunify. PKGUNIFY_HOOKS=off
// (pkgunify(8), ENVIRONMENT), set before any test runs, keeps them out of
// every command the tests start. The tests of the build tree's rpm plugin
// clear it for their rpm runs only (rpm_in_with_hooks); the tests' dpkg hook
// lines are their own --pre-invoke/--post-invoke options, which do not look
// at it.
#include <cstdlib>

namespace {

[[maybe_unused]] const bool g_installed_hooks_off = ::setenv("PKGUNIFY_HOOKS", "off", 1) == 0;

}  // namespace
