// SPDX-License-Identifier: GPL-2.0-or-later
#include "targets.hpp"

#include "engine/policy.hpp"
#include "pkgdb/debfile.hpp"
#include "pkgdb/dpkgdb.hpp"
#include "pkgdb/pkgdb.hpp"
#include "pkgdb/rpmdb.hpp"
#include "sys/exceptions.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace pkgunify::fuzz {

namespace {

namespace fs = std::filesystem;

void
put(const std::string& path, std::string_view data)
{
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) {
    std::abort();  // the harness itself failed, not the parser
  }
}

template<typename Fn>
std::string
accepted_or_error(Fn&& fn)
{
  try {
    fn();
    return {};
  } catch (const Error& e) {
    const std::string message = e.what();
    return message.empty() ? std::string("(empty error message)") : message;
  }
}

std::string
policy(std::string_view data)
{
  return accepted_or_error([&] { (void)parse_policy(data, "fuzz.yaml"); });
}

// The input is a dpkg status file; every package it names is read.
std::string
dpkg_status(std::string_view data)
{
  const std::string admin = work_dir() + "/status-admin";
  fs::create_directories(admin + "/info");
  put(admin + "/status", data);
  return accepted_or_error([&] {
    auto db = make_dpkg_db(admin);
    (void)db->stamps();
    (void)db->change_marker();
    (void)db->packages();
  });
}

// The input's first byte chooses the file (even: pkg.list, odd: pkg.md5sums),
// the rest is its content; the status file names the package with a
// conffile.
std::string
dpkg_info(std::string_view data)
{
  const std::string admin = work_dir() + "/info-admin";
  fs::create_directories(admin + "/info");
  put(admin + "/status", "Package: pkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n"
                         "Conffiles:\n /etc/pkg.conf 0123456789abcdef0123456789abcdef\n");
  const bool md5 = !data.empty() && (static_cast<unsigned char>(data[0]) & 1);
  const std::string_view body = data.empty() ? data : data.substr(1);
  put(admin + "/info/pkg.list", md5 ? std::string_view("/.\n/usr\n/usr/bin\n/usr/bin/x\n/etc/pkg.conf\n") : body);
  put(admin + "/info/pkg.md5sums", md5 ? body : std::string_view("0123456789abcdef0123456789abcdef  usr/bin/x\n"));
  return accepted_or_error([&] { (void)make_dpkg_db(admin)->packages(); });
}

std::string
deb(std::string_view data)
{
  const std::string file = work_dir() + "/input.deb";
  put(file, data);
  return accepted_or_error([&] { (void)read_deb(file); });
}

// The input is a root's rpm database (var/lib/rpm/rpmdb.sqlite, as sqlite
// writes it); every package it holds is read through the private copy.
std::string
rpmdb(std::string_view data)
{
  const std::string dbdir = work_dir() + "/rpmdb-root/var/lib/rpm";
  std::error_code ec;
  fs::remove_all(dbdir, ec);  // the -wal of an earlier input, say
  fs::create_directories(dbdir);
  put(dbdir + "/rpmdb.sqlite", data);
  return accepted_or_error([&] {
    auto db = open_rpm_db(work_dir() + "/rpmdb-root");
    (void)db->change_marker();
    (void)db->stamps();
    (void)db->packages();
  });
}

// The input is an .rpm package file; its header is read.
std::string
rpm(std::string_view data)
{
  const std::string file = work_dir() + "/input.rpm";
  put(file, data);
  return accepted_or_error([&] { (void)read_rpm_file(file); });
}

}  // namespace

const std::string&
work_dir()
{
  // Removed with everything in it when the process exits.
  struct WorkDir
  {
    std::string path;
    WorkDir()
    {
      const char* base = std::getenv("TMPDIR");
      path = std::string(base && *base ? base : "/tmp") + "/pkgunify-fuzz.XXXXXX";
      if (!::mkdtemp(path.data())) {
        std::abort();
      }
    }
    ~WorkDir()
    {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
    WorkDir(const WorkDir&) = delete;
    WorkDir& operator=(const WorkDir&) = delete;
  };
  static const WorkDir dir;
  return dir.path;
}

const std::vector<Target>&
targets()
{
  static const std::vector<Target> all = {
    {"policy", policy, "fuzz.yaml:"},           {"dpkg_status", dpkg_status, "/status"},
    {"dpkg_info", dpkg_info, "/info/pkg."},     {"deb", deb, "input.deb"},
    {"rpmdb", rpmdb, "rpmdb-root/var/lib/rpm"}, {"rpm", rpm, "input.rpm"},
  };
  return all;
}

const Target*
find_target(std::string_view name)
{
  for (const auto& t : targets()) {
    if (name == t.name) {
      return &t;
    }
  }
  return nullptr;
}

}  // namespace pkgunify::fuzz
