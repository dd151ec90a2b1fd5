// SPDX-License-Identifier: GPL-2.0-or-later
// The command table of pkgunify: registration, option checks from the enum
// tables, and how running a command maps failures to exit statuses.
#include "cli/command.hpp"
#include "cli/commands/commands.hpp"
#include "guest/link_mode.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <sstream>

using namespace pkgunify;
using namespace pkgunify::cli;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

// Parses `args` (in command-line order).
void
parse(CLI::App& app, std::vector<std::string> args)
{
  std::reverse(args.begin(), args.end());
  app.parse(args);
}

// The app with every command, parsed from `args`; runs the command the
// line names, with its output and standard error captured.
struct Cli
{
  CLI::App app{"pkgunify"};
  std::vector<std::unique_ptr<Command>> commands = make_commands();
  std::string out;
  std::string err;

  Cli()
  {
    app.require_subcommand(1);
    for (const auto& c : commands) {
      c->add_to(app);
    }
  }

  int
  run(std::vector<std::string> args)
  {
    parse(app, std::move(args));
    std::ostringstream o;
    std::ostringstream e;
    auto* old = std::cerr.rdbuf(e.rdbuf());
    int rc = -1;
    for (const auto& c : commands) {
      if (c->chosen()) {
        rc = run_command(*c, o);
        break;
      }
    }
    std::cerr.rdbuf(old);
    out = o.str();
    err = e.str();
    return rc;
  }
};

class CliCommandsTest : public TempDirTest
{};

}  // namespace

TEST(CliCommands, EveryCommandInHelpOrder)
{
  Cli cli;
  std::vector<std::string> names;
  for (const auto* sub : cli.app.get_subcommands({})) {
    names.push_back(sub->get_name());
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"scan", "pkg", "list", "inspect", "verify", "sync", "dpkg-release", "unify-files",
                                      "wait", "split", "release", "status", "store", "guest", "agent"}));
}

TEST(CliCommands, LinkAndCreateModesComeFromTheirTables)
{
  Cli cli;
  for (const char* name : {"scan", "pkg"}) {
    const CLI::Option* link = cli.app.get_subcommand(name)->get_option("--link");
    EXPECT_EQ(link->get_description(), "Link mode (overrides the policy): auto, iunlink, immutable, reflink, hardlink");
  }
  for (const auto& mode : k_link_mode_names.names()) {
    Cli ok;
    EXPECT_NO_THROW(parse(ok.app, {"scan", "--link", mode, "/g"}));
  }
  for (const auto& mode : k_create_mode_names.names()) {
    Cli ok;
    EXPECT_NO_THROW(parse(ok.app, {"pkg", "--root", "/r", "--create", mode, "p"}));
  }
  Cli bad;
  EXPECT_THROW(parse(bad.app, {"scan", "--link", "symlink", "/g"}), CLI::ValidationError);
  Cli bad_create;
  EXPECT_THROW(parse(bad_create.app, {"scan", "--create", "move", "/g"}), CLI::ValidationError);
}

TEST(CliCommands, TheDefaultPolicyIsNamedInTheHelp)
{
  Cli cli;
  EXPECT_EQ(cli.app.get_subcommand("list")->get_option("--policy")->get_description(),
            "Policy file (default: /etc/pkgunify/pkgunify.yaml if present)");
}

TEST_F(CliCommandsTest, AConfigErrorExitsWithTwoAndItsMessage)
{
  Cli cli;
  write_fixed(path("p.yaml"), "min_size: 1\n");
  EXPECT_EQ(cli.run({"store", "stats", "--policy", path("p.yaml")}), k_exit_usage);
  EXPECT_EQ(cli.err, "pkgunify: no store given: use --store DIR or 'store:' in the policy\n");
  EXPECT_EQ(cli.out, "");
}

TEST_F(CliCommandsTest, AHookNeverFailsButReportsWhatWentWrong)
{
  write_fixed(path("bad.yaml"), "link: [\n");
  Cli plain;
  EXPECT_EQ(plain.run({"unify-files", "--check", "--policy", path("bad.yaml"), "--root", path("g")}), k_exit_usage);
  EXPECT_NE(plain.err.find("pkgunify: error: " + path("bad.yaml")), std::string::npos) << plain.err;
  Cli hook;  // a guest's root: the host's "/", the default, is refused (issue #15, item 9)
  EXPECT_EQ(
    hook.run({"unify-files", "--hook", "--log", "", "--check", "--policy", path("bad.yaml"), "--root", path("g")}),
    k_exit_ok);
  EXPECT_NE(hook.err.find(path("bad.yaml")), std::string::npos) << hook.err;
  EXPECT_EQ(hook.out, "");
}

TEST_F(CliCommandsTest, SplitOfAnUnsharedFile)
{
  write_fixed(path("f"), "content");
  Cli cli;
  EXPECT_EQ(cli.run({"split", "--json", path("f")}), k_exit_ok);
  EXPECT_EQ(cli.out, "{\n  \"command\": \"split\",\n  \"dry_run\": false,\n  \"split\": 0,\n  \"not_shared\": 1,\n  "
                     "\"errors\": 0\n}\n");
}
