// SPDX-License-Identifier: GPL-2.0-or-later
#include "pkgbuild.hpp"

#include "harness.hpp"

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace pkgunify::itest {

std::string
quote(const std::string& s)
{
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

namespace {

// Every file gets one fixed mtime, so that the same package installed into
// two guests gives identical files.
void
write_tree(const std::string& top, const PkgSpec& spec)
{
  for (const auto& f : spec.files) {
    FileSpec fs;
    fs.content = f.content;
    fs.mode = f.mode;
    fs.mtime = {1700000000, 0};
    write_file(top + f.path, fs);
  }
}

}  // namespace

ShellResult
shell(const std::string& cmd)
{
  ShellResult r;
  FILE* p = ::popen(("(" + cmd + ") 2>&1").c_str(), "r");
  if (!p) {
    return r;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    r.output.append(buf, n);
  }
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool
have_tool(const std::string& name)
{
  return shell("command -v " + name).status == 0;
}

std::string
missing_tool(std::initializer_list<const char*> tools)
{
  for (const char* tool : tools) {
    if (!have_tool(tool)) {
      return std::string(tool) + " is not installed";
    }
  }
  return {};
}

std::string
build_rpm(const PkgSpec& spec, const std::string& workdir)
{
  const std::string top = workdir + "/rpmbuild-" + spec.name + "-" + spec.version;
  const std::string tree = top + "/tree";
  make_dirs(top + "/SPECS");
  write_tree(tree, spec);
  std::string s;
  s += "%define __os_install_post %{nil}\n%define debug_package %{nil}\n";
  s += "%define _build_id_links none\n";
  s += "Name: " + spec.name + "\nVersion: " + spec.version + "\nRelease: " + spec.release + "\n";
  s += "Summary: pkgunify test package\nLicense: MIT\nBuildArch: noarch\n";
  s += "%description\npkgunify test package\n";
  s += "%install\nmkdir -p %{buildroot}\ncp -a " + quote(tree) + "/. %{buildroot}/\n";
  s += "%files\n";
  for (const auto& f : spec.files) {
    s += (f.config ? "%config(noreplace) " : "") + f.path + "\n";
  }
  write_text(top + "/SPECS/p.spec", s);
  const ShellResult r = shell("rpmbuild --define " + quote("_topdir " + top) + " -bb " + quote(top + "/SPECS/p.spec"));
  const std::string rpm = top + "/RPMS/noarch/" + spec.name + "-" + spec.version + "-" + spec.release + ".noarch.rpm";
  if (r.status != 0 || !std::filesystem::exists(rpm)) {
    throw std::runtime_error("rpmbuild failed:\n" + r.output);
  }
  return rpm;
}

std::string
build_deb(const PkgSpec& spec, const std::string& workdir)
{
  const std::string tree = workdir + "/deb-" + spec.name + "-" + spec.version;
  write_tree(tree, spec);
  make_dirs(tree + "/DEBIAN");
  write_text(tree + "/DEBIAN/control", "Package: " + spec.name + "\nVersion: " + spec.version + "-" + spec.release
                                         + "\nArchitecture: all\nMaintainer: pkgunify tests <t@example.invalid>\n"
                                           "Description: pkgunify test package\n");
  std::string conffiles;
  for (const auto& f : spec.files) {
    if (f.config) {
      conffiles += f.path + "\n";
    }
  }
  if (!conffiles.empty()) {
    write_text(tree + "/DEBIAN/conffiles", conffiles);
  }
  const std::string deb = workdir + "/" + spec.name + "_" + spec.version + "-" + spec.release + "_all.deb";
  const ShellResult r = shell("dpkg-deb --root-owner-group -Zgzip --build " + quote(tree) + " " + quote(deb));
  if (r.status != 0) {
    throw std::runtime_error("dpkg-deb failed:\n" + r.output);
  }
  return deb;
}

void
rpm_init_root(const std::string& root)
{
  make_dirs(root);
  const ShellResult r = shell("rpm --root " + quote(root) + " --initdb");
  if (r.status != 0) {
    throw std::runtime_error("rpm --initdb failed:\n" + r.output);
  }
}

void
dpkg_init_root(const std::string& root)
{
  make_dirs(root + "/var/lib/dpkg/info");
  make_dirs(root + "/var/lib/dpkg/updates");
  write_text(root + "/var/lib/dpkg/status", "");
  write_text(root + "/var/lib/dpkg/available", "");
}

ShellResult
rpm_in(const std::string& root, const std::string& args)
{
  return shell("rpm --root " + quote(root) + " " + args);
}

ShellResult
rpm_in_with_hooks(const std::string& root, const std::string& args)
{
  return shell("env -u PKGUNIFY_HOOKS rpm --root " + quote(root) + " " + args);
}

ShellResult
dpkg_in(const std::string& root, const std::string& args)
{
  return shell("dpkg --root=" + quote(root) + " --log=/dev/null " + args);
}

}  // namespace pkgunify::itest
