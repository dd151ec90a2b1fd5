// SPDX-License-Identifier: GPL-2.0-or-later
// The reports of the pkgunify commands print as text and JSON through one
// place (print_report).
#include "cli/all_guests.hpp"
#include "cli/command.hpp"
#include "cli/commands/guest.hpp"
#include "cli/commands/inspect.hpp"
#include "cli/commands/split.hpp"
#include "cli/commands/status.hpp"
#include "cli/commands/sync.hpp"
#include "cli/commands/unify_files.hpp"
#include "cli/scan_common.hpp"
#include "sys/exceptions.hpp"

#include <gtest/gtest.h>

#include <sstream>

using namespace pkgunify;
using namespace pkgunify::cli;

namespace {

std::string
printed(const Report& r, OutputFormat format, int* status = nullptr)
{
  std::ostringstream out;
  const int rc = print_report(r, format, out);
  if (status) {
    *status = rc;
  }
  return out.str();
}

}  // namespace

TEST(CliReports, UnifyFilesJsonPrintsAnInvalidUtf8RootAsReplacementCharacter)
{
  UnifyFilesReport r;
  r.root = "/srv/g\xff"
           "1";
  r.ran = true;
  r.stats.linked = 2;
  const std::string text = printed(r, OutputFormat::as_json);
  EXPECT_NE(text.find("\"root\": \"/srv/g\xEF\xBF\xBD"
                      "1\""),
            std::string::npos)
    << text;
  EXPECT_EQ(text.rfind("{\n  \"command\": \"unify-files\",\n  \"root\"", 0), 0u) << text;
  EXPECT_NE(text.find("\"linked\": 2,"), std::string::npos) << text;
  EXPECT_EQ(printed(r, OutputFormat::as_text), "");
}

TEST(CliReports, UnifyFilesExitStatus)
{
  UnifyFilesReport r;
  EXPECT_EQ(r.exit_status(), k_exit_usage);  // did not run
  r.ran = true;
  EXPECT_EQ(r.exit_status(), k_exit_ok);
  r.stats.errors = 1;
  EXPECT_EQ(r.exit_status(), k_exit_failures);
}

TEST(CliReports, SplitAndReleaseSayWhatTheyDid)
{
  SplitReport r;
  r.split = 3;
  r.not_shared = 1;
  EXPECT_EQ(printed(r, OutputFormat::as_text), "3 split, 1 not shared\n");
  r.verb = SplitVerb::release;
  r.dry_run = true;
  r.failed = 2;
  int status = -1;
  EXPECT_EQ(printed(r, OutputFormat::as_text, &status), "3 would be released, 1 not shared, 2 failed\n");
  EXPECT_EQ(status, k_exit_failures);
  EXPECT_EQ(printed(r, OutputFormat::as_json), "{\n  \"command\": \"release\",\n  \"dry_run\": true,\n  \"released\": "
                                               "3,\n  \"not_shared\": 1,\n  \"errors\": 2\n}\n");
}

TEST(CliReports, ScanReportPutsTheCommandsFieldsAfterTheStore)
{
  ScanSetup setup{ScanOptions{}, Store::absent("/tmp/pkgunify-no-such-store")};
  setup.opt.dry_run = true;
  ScanStats stats;
  stats.files_seen = 5;
  stats.candidates = 4;
  stats.linked = 3;
  stats.skipped["too-small"] = 1;
  json extra;
  extra["roots"] = {"/g1"};
  ScanReport r("scan", setup, stats, extra);
  const json j = json::parse(printed(r, OutputFormat::as_json));
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) {
    keys.push_back(k);
  }
  ASSERT_GE(keys.size(), 7u);
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 7),
            (std::vector<std::string>{"command", "store", "roots", "dry_run", "create", "link_mode", "files_seen"}));
  EXPECT_EQ(j["skipped"]["too-small"], 1);
  EXPECT_EQ(printed(r, OutputFormat::as_text),
            "dry run: nothing changed\n5 files, 4 candidates: 3 would be linked, 0 already linked, 0 new objects "
            "(link mode hardlink)\n0 B read, 0 B would be saved, 1 skipped (too-small)\n");
  EXPECT_EQ(r.exit_status(), k_exit_ok);
  r.missing_packages = 1;
  EXPECT_EQ(r.exit_status(), k_exit_failures);
}

TEST(CliReports, SyncPrintsNoTextInHookModeNorWhenUnchanged)
{
  SyncReport r;
  r.root = "/g";
  r.package_db = "dpkg";
  r.ran = true;
  r.packages = {"a", "b"};
  r.stats.linked = 7;
  EXPECT_EQ(printed(r, OutputFormat::as_text), "/g: 2 packages changed, 7 files linked\n");
  r.hook = true;
  EXPECT_EQ(printed(r, OutputFormat::as_text), "");
  EXPECT_NE(printed(r, OutputFormat::as_json).find("\"linked\": 7"), std::string::npos);
  SyncReport same;
  same.unchanged = true;
  EXPECT_EQ(printed(same, OutputFormat::as_text), "");
  EXPECT_EQ(json::parse(printed(same, OutputFormat::as_json)).size(), 5u);  // no scan counts
  EXPECT_EQ(same.exit_status(), k_exit_ok);
}

TEST(CliReports, AFailureHalfwayPrintsThePartDoneAsTextAndNoJson)
{
  InspectReport r;
  InspectedPackage p;
  p.file = "/a.deb";
  p.format = "deb";
  p.name = "a";
  p.version = "1";
  p.arch = "all";
  p.unified_files = 1;
  p.unified_bytes = 2048;
  p.entries.push_back({"/usr/bin/a", 2048, false, true, "would be unified"});
  p.entries.push_back({"/etc/a.conf", 10, true, false, "config file"});
  r.packages.push_back(p);
  EXPECT_EQ(printed(r, OutputFormat::as_text), "/a.deb: a 1 all\n  unify  /usr/bin/a  (would be unified)\n"
                                               "  config /etc/a.conf  (config file)\n"
                                               "  1 files (2.0 KiB) would be unified\n");
  r.fail(std::make_exception_ptr(ConfigError("/b.txt: not a package file")));
  std::ostringstream text;
  EXPECT_THROW(print_report(r, OutputFormat::as_text, text), ConfigError);
  EXPECT_EQ(text.str().rfind("/a.deb: a 1 all\n", 0), 0u);
  std::ostringstream js;
  EXPECT_THROW(print_report(r, OutputFormat::as_json, js), ConfigError);
  EXPECT_EQ(js.str(), "");
}

TEST(CliReports, StatusListsFilesBeforeTheRootsAndOnlyWithFiles)
{
  StatusReport r;
  r.store = "/s";
  RootStatus s;
  s.root = "/g";
  s.files = 4;
  s.candidates = 4;
  s.unified_files = 2;
  s.modes["hardlink"] = 2;
  r.roots.push_back(s);
  const std::string summary = "/g: 2 of 4 candidate files unified (50%), 0 B shared, saves 0 B (4 files, 0 B in all), "
                              "2 hardlink\n";
  EXPECT_EQ(printed(r, OutputFormat::as_text), summary);
  EXPECT_FALSE(json::parse(printed(r, OutputFormat::as_json)).contains("files"));
  r.files.emplace();
  r.files->push_back({"/g", "/usr/bin/x", "hardlink"});
  EXPECT_EQ(printed(r, OutputFormat::as_text), "hardlink\t/g/usr/bin/x\n" + summary);
  const json j = json::parse(printed(r, OutputFormat::as_json));
  EXPECT_EQ(j["files"][0]["path"], "/usr/bin/x");
  EXPECT_EQ(j["roots"][0]["modes"]["hardlink"], 2);
}

TEST(CliReports, ASilentReportPrintsNothing)
{
  SilentReport r(k_exit_usage);
  int status = -1;
  EXPECT_EQ(printed(r, OutputFormat::as_json, &status), "");
  EXPECT_EQ(status, k_exit_usage);
  EXPECT_EQ(printed(r, OutputFormat::as_text), "");
}

TEST(CliReports, GroupsReportNamesEachGroupsStoreAndGuests)
{
  GroupsReport r;
  r.command = "status";
  r.guests_dir = "/etc/pkgunify/guests.d";
  GroupsReport::Part& ok = r.parts.emplace_back();
  ok.group.store = "/srv/.pkgunify-store";
  ok.group.guests = {{"a", "/srv/a", "", ""}, {"b", "/srv/b", "", ""}};
  auto status = std::make_unique<StatusReport>();
  status->store = ok.group.store;
  ok.report = std::move(status);
  GroupsReport::Part& failed = r.parts.emplace_back();
  failed.group.store = "/data/.pkgunify-store";
  failed.group.policy_file = "/etc/p.yaml";
  failed.group.guests = {{"c", "/data/c", "/etc/p.yaml", ""}};
  failed.error = "no store at /data/.pkgunify-store (no format file)";
  failed.error_status = k_exit_usage;
  int rc = -1;
  const std::string text = printed(r, OutputFormat::as_text, &rc);
  EXPECT_EQ(rc, k_exit_usage);
  EXPECT_EQ(text,
            "store /srv/.pkgunify-store (guests a, b):\nstore /data/.pkgunify-store (guests c):\nfailed: no store "
            "at /data/.pkgunify-store (no format file)\n");
  const json j = r.to_json();
  EXPECT_EQ(j["groups"][0]["store"], "/srv/.pkgunify-store");
  EXPECT_TRUE(j["groups"][0]["policy"].is_null());
  EXPECT_EQ(j["groups"][0]["guests"], json::array({"a", "b"}));
  EXPECT_EQ(j["groups"][1]["policy"], "/etc/p.yaml");
  EXPECT_EQ(j["groups"][1]["error"], failed.error);
  r.parts.pop_back();
  EXPECT_EQ(r.exit_status(), k_exit_ok);
  r.errors.push_back("guest d: guest root /x: No such file or directory");
  EXPECT_EQ(r.exit_status(), k_exit_failures);
}

TEST(CliReports, GuestListWarningsAreNoFailure)
{
  GuestListReport r;
  r.guests_dir = "/etc/pkgunify/guests.d";
  GuestInfo& g = r.guests.emplace_back();
  g.entry = {"web", "/srv/web", "", "/etc/pkgunify/guests.d/web.yaml"};
  g.root_exists = true;
  g.store = "/srv/.pkgunify-store";
  g.store_exists = true;
  g.unified_files = 3;
  g.unified_bytes = 2048;
  g.warnings.push_back("pid 7 (sleep) in guest web keeps CAP_LINUX_IMMUTABLE in its bounding set: it can lift the "
                       "protection of shared files");
  int rc = -1;
  const std::string text = printed(r, OutputFormat::as_text, &rc);
  EXPECT_EQ(rc, k_exit_ok);
  EXPECT_EQ(text, "web: /srv/web\n  3 files unified, 2.0 KiB shared, saves 0 B (store /srv/.pkgunify-store); agent not "
                  "served\n  warning: "
                    + g.warnings[0] + "\n");
  const json j = r.to_json();
  EXPECT_EQ(j["guests"][0]["agent"], "not served");
  EXPECT_EQ(j["guests"][0]["unified_bytes"], 2048);
  EXPECT_EQ(j["guests"][0]["warnings"].size(), 1u);
  r.errors.push_back("/etc/pkgunify/guests.d/x.yaml:1:1: unknown key 'a'");
  EXPECT_EQ(r.exit_status(), k_exit_failures);
}
