// SPDX-License-Identifier: GPL-2.0-or-later
// Real packages for the tests: .rpm built with rpmbuild, .deb with dpkg-deb,
// installed into guest roots with `rpm --root` and `dpkg --root`.
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace pkgunify::itest {

struct PkgFile
{
  std::string path;  // absolute in the package: "/usr/bin/tool"
  std::string content;
  mode_t mode = 0644;
  bool config = false;  // rpm %config / dpkg conffile
};

struct PkgSpec
{
  std::string name;
  std::string version = "1.0";
  std::string release = "1";
  std::vector<PkgFile> files;
};

struct ShellResult
{
  int status = -1;
  std::string output;  // stdout and stderr
};

// Runs `cmd` with sh -c, output captured.
ShellResult shell(const std::string& cmd);

// `s` in single quotes for the shell.
std::string quote(const std::string& s);

bool have_tool(const std::string& name);

// "<tool> is not installed" for the first of `tools` missing, else "".
std::string missing_tool(std::initializer_list<const char*> tools);

// Builds PKG into `workdir` and returns the package file's path. Throws
// std::runtime_error with the tool's output when the build fails.
std::string build_rpm(const PkgSpec& spec, const std::string& workdir);
std::string build_deb(const PkgSpec& spec, const std::string& workdir);

// Prepares an empty guest for the package manager.
void rpm_init_root(const std::string& root);
void dpkg_init_root(const std::string& root);

// `rpm --root ROOT ARGS` and `dpkg --root=ROOT --log=/dev/null ARGS`.
ShellResult rpm_in(const std::string& root, const std::string& args);
ShellResult dpkg_in(const std::string& root, const std::string& args);
// `rpm --root ROOT ARGS` with the pkgunify hooks on (PKGUNIFY_HOOKS unset;
// tests/installed_hooks_off.cpp sets it to off for every other command): for
// the runs that load the build tree's plugin with --define '__plugindir DIR',
// which also keeps an installed plugin out.
ShellResult rpm_in_with_hooks(const std::string& root, const std::string& args);

}  // namespace pkgunify::itest
