// SPDX-License-Identifier: GPL-2.0-or-later
// dpkg's status file (core/pkgdb/dpkg_status.cpp), through the dpkg
// database: package states, the Conffiles field, and corrupt files
// reported with their line.
#include "dpkg_fixture.hpp"
#include "pkgdb/dpkgdb.hpp"
#include "procutil.hpp"
#include "testutil.hpp"

#include <apt-pkg/error.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

using pkgunify::make_dpkg_db;
using pkgunify::test::db_error;
using pkgunify::test::DpkgDbSynthetic;
using pkgunify::test::md5_a;
using pkgunify::test::names_of;

TEST_F(DpkgDbSynthetic, EmptyStatusHasNoPackages)
{
  status("");
  EXPECT_TRUE(make_dpkg_db(admin)->packages().empty());
}

TEST_F(DpkgDbSynthetic, SkipsConfigFilesAndNotInstalled)
{
  status("Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n"
         "Conffiles:\n /etc/gone.conf "
         + md5_a
         + "\n\n"
           "Package: never\nStatus: purge ok not-installed\n\n"
           "Package: half\nStatus: install reinstreq half-installed\nVersion: 2\n\n"
           "Package: trig\nStatus: install ok triggers-pending\nVersion: 3\n");
  info("half.list", "/.\n/usr\n");
  info("trig.list", "/.\n/usr\n");
  const auto pkgs = make_dpkg_db(admin)->packages();
  EXPECT_EQ(names_of(pkgs), (std::vector<std::string>{"half", "trig"}));
}

TEST_F(DpkgDbSynthetic, GarbageLineReportsItsLine)
{
  status("Package: a\n"                    // 1
         "Status: install ok installed\n"  // 2
         "Version: 1\n"                    // 3
         "\n"                              // 4
         "Package: b\n"                    // 5
         "Status: install ok installed\n"  // 6
         "garbage without colon\n"         // 7
         "Version: 2\n");                  // 8
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:7: malformed line, expected \"Field: value\"");
}

TEST_F(DpkgDbSynthetic, GarbageAtTheEndReportsTheStanza)
{
  // No colon follows the garbage: libapt-pkg's pkgTagFile::Step fails, and
  // the line of the stanza is reported.
  status("Package: a\n"                    // 1
         "Status: install ok installed\n"  // 2
         "\n"                              // 3
         "\n"                              // 4
         "Package: b\n"                    // 5
         "Status: install ok installed\n"  // 6
         "Version: 2\n"                    // 7
         "garbage\n");                     // 8
  const std::string msg = db_error([&] { make_dpkg_db(admin); });
  EXPECT_EQ(msg.rfind(admin + "/status:5: ", 0), 0u) << msg;
}

TEST_F(DpkgDbSynthetic, ConffilesLineWithoutHash)
{
  status("Package: a\nStatus: install ok installed\nVersion: 1\n\n"
         "Package: b\n"                    // 5
         "Status: install ok installed\n"  // 6
         "Conffiles:\n"                    // 7
         " /etc/b.conf "
         + md5_a
         + "\n"               // 8
           " /etc/b2.conf\n"  // 9
           "Version: 2\n");
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }),
            admin + "/status:9: malformed Conffiles line, expected \" /path <md5>\"");
}

TEST_F(DpkgDbSynthetic, ConffilesOnTheFieldLineAndBadHash)
{
  status("Package: b\n"                    // 1
         "Status: install ok installed\n"  // 2
         "Conffiles: /etc/b.conf "
         + md5_a
         + " obsolete\n"             // 3
           " /etc/c.conf 12345\n");  // 4
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:4: malformed Conffiles line, bad hash '12345'");
}

TEST_F(DpkgDbSynthetic, StanzaWithoutPackageOrStatus)
{
  status("Package: a\nStatus: install ok installed\n\n\n\n"
         "Version: 1\n"  // 6
         "Status: install ok installed\n");
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:6: stanza without Package field");
  status("\nPackage: a\nStatus: install ok installed\n\n"
         "Package: b\n"  // 5
         "Version: 1\n");
  EXPECT_EQ(db_error([&] { make_dpkg_db(admin); }), admin + "/status:5: package 'b' has no Status field");
  status("Package: a\nStatus: install ok\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }).find("status:1: package 'a': malformed Status"), std::string::npos);
  status("Package: a\nStatus: install ok floating\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }).find("status:1: package 'a': unknown state 'floating'"),
            std::string::npos);
  status("Package: ../../etc/x\nStatus: install ok installed\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }).find("status:1: invalid package name"), std::string::npos);
}

TEST_F(DpkgDbSynthetic, AptErrorStackIsLeftAsFound)
{
  _error->Error("pkgunify-test: the caller's own error");
  status("Package: a\nStatus: install ok installed\n\nPackage: b\ngarbage\n");
  EXPECT_NE(db_error([&] { make_dpkg_db(admin); }), "(no error)");
  two_packages();
  EXPECT_EQ(make_dpkg_db(admin)->packages().size(), 2u);
  ASSERT_TRUE(_error->PendingError());
  std::string text;
  EXPECT_TRUE(_error->PopMessage(text));
  EXPECT_EQ(text, "pkgunify-test: the caller's own error");
  EXPECT_TRUE(_error->empty(GlobalError::DEBUG));
}
