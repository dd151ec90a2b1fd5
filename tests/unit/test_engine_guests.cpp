// SPDX-License-Identifier: GPL-2.0-or-later
// The guest registry: the file format and its errors, the name rule, adding
// and removing guests (atomic, refusals), and the groups of scan --all.
#include "engine/guests.hpp"

#include "guest/runtime.hpp"
#include "scratch_mount.hpp"
#include "store/store.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

using namespace pkgunify;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

// The message of the ConfigError `fn` throws, or "(no error)".
template<typename Fn>
std::string
config_error(Fn&& fn)
{
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<std::string>
names_in(const std::string& dir)
{
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class GuestRegistryTest : public TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    registry = path("guests.d");
    std::filesystem::create_directories(path("g1/usr"));
    std::filesystem::create_directories(path("g2/usr"));
  }

  [[nodiscard]] GuestEntry
  guest(const std::string& name, const std::string& root, const std::string& policy = {}) const
  {
    return GuestEntry{name, root, policy, {}};
  }

  std::string registry;
};

}  // namespace

TEST(GuestNames, TheRule)
{
  for (const std::string& good : std::vector<std::string>{"a", "web1", "Web_1.prod-2", "0", std::string(64, 'x')}) {
    EXPECT_TRUE(valid_guest_name(good)) << good;
  }
  for (const std::string& bad : std::vector<std::string>{"", ".", "..", ".hidden", "-x", "_x", "a/b", "a b", "a:b", "é",
                                                         std::string(65, 'x'), std::string("a\0b", 3)}) {
    EXPECT_FALSE(valid_guest_name(bad)) << bad;
  }
}

TEST(GuestFiles, RootAndPolicy)
{
  const GuestEntry g =
    parse_guest_file("# a comment\nroot: /srv/guests/web/\npolicy: '/etc/pkgunify/web.yaml'\n", "/r/web.yaml");
  EXPECT_EQ(g.name, "web");
  EXPECT_EQ(g.root, "/srv/guests/web");
  EXPECT_EQ(g.policy, "/etc/pkgunify/web.yaml");
  EXPECT_EQ(g.file, "/r/web.yaml");
  EXPECT_EQ(parse_guest_file("root: /srv/a\n", "/r/a.yaml").policy, "");
}

TEST(GuestFiles, ErrorsNameTheFileAndLine)
{
  EXPECT_EQ(config_error([] { parse_guest_file("root: /srv/a\nrot: /x\n", "/r/a.yaml"); }),
            "/r/a.yaml:2:1: unknown key 'rot' (a guest file has root: and policy:)");
  EXPECT_EQ(config_error([] { parse_guest_file("root: /a\nroot: /b\n", "/r/a.yaml"); }),
            "/r/a.yaml:2:1: duplicate key 'root' (first on line 1)");
  EXPECT_EQ(config_error([] { parse_guest_file("policy: /p.yaml\n", "/r/a.yaml"); }),
            "/r/a.yaml: no 'root:' (the guest's root directory)");
  EXPECT_EQ(config_error([] { parse_guest_file("", "/r/a.yaml"); }),
            "/r/a.yaml: no 'root:' (the guest's root directory)");
  EXPECT_EQ(config_error([] { parse_guest_file("\nroot: srv/a\n", "/r/a.yaml"); }),
            "/r/a.yaml:2:7: root: expected an absolute path, got 'srv/a'");
  EXPECT_EQ(config_error([] { parse_guest_file("root:\n", "/r/a.yaml"); }),
            "/r/a.yaml:1:1: root: expected an absolute path, got an empty value");
  EXPECT_EQ(config_error([] { parse_guest_file("root: [/a]\n", "/r/a.yaml"); }),
            "/r/a.yaml:1:7: root: expected an absolute path, got a sequence");
  EXPECT_EQ(config_error([] { parse_guest_file("- /a\n", "/r/a.yaml"); }),
            "/r/a.yaml:1:1: expected a mapping of keys, got a sequence");
  EXPECT_EQ(config_error([] { parse_guest_file("root: /a\n---\nroot: /b\n", "/r/a.yaml"); }),
            "/r/a.yaml:3:1: expected a single YAML document");
  EXPECT_EQ(config_error([] { parse_guest_file("root: \"/a\\0b\"\n", "/r/a.yaml"); }),
            "/r/a.yaml:1:7: root: a path cannot hold a NUL byte");
  const std::string syntax = config_error([] { parse_guest_file("root: /a\n  bad: [\n", "/r/a.yaml"); });
  EXPECT_TRUE(syntax.starts_with("/r/a.yaml:2:")) << syntax;
  EXPECT_EQ(config_error([] { parse_guest_file("root: /a\n", "/r/-x.yaml"); }),
            "/r/-x.yaml: '-x.yaml' names no guest (NAME.yaml: up to 64 letters, digits, '_', '.' and '-', starting "
            "with a letter or digit)");
}

TEST_F(GuestRegistryTest, AMissingDirectoryHasNoGuests)
{
  const GuestRegistry r = load_guests(path("nowhere"));
  EXPECT_TRUE(r.guests.empty());
  EXPECT_TRUE(r.errors.empty());
}

TEST_F(GuestRegistryTest, ABrokenFileHidesNoOtherAndBackupsAreIgnored)
{
  write_fixed(registry + "/b.yaml", "root: /srv/b\n");
  write_fixed(registry + "/a.yaml", "root: /srv/a\npolicy: /etc/a.yaml\n");
  write_fixed(registry + "/broken.yaml", "root: /srv/x\ncolour: red\n");
  for (const char* ignored : {"a.yaml~", "b.yaml.dpkg-old", ".a.yaml.tmp.0123", "README", "c.yml"}) {
    write_fixed(registry + "/" + ignored, "not: [yaml");
  }
  // A FIFO is refused, not waited for.
  ASSERT_EQ(::mkfifo((registry + "/fifo.yaml").c_str(), 0600), 0);
  const GuestRegistry r = load_guests(registry);
  ASSERT_EQ(r.guests.size(), 2u);
  EXPECT_EQ(r.guests[0].name, "a");
  EXPECT_EQ(r.guests[0].policy, "/etc/a.yaml");
  EXPECT_EQ(r.guests[0].file, registry + "/a.yaml");
  EXPECT_EQ(r.guests[1].name, "b");
  ASSERT_EQ(r.errors.size(), 2u);
  EXPECT_EQ(r.errors[0], registry + "/broken.yaml:2:1: unknown key 'colour' (a guest file has root: and policy:)");
  EXPECT_EQ(r.errors[1], registry + "/fifo.yaml: not a regular file");
}

TEST_F(GuestRegistryTest, AddWritesAFileThatLoadsBack)
{
  // Characters YAML would take for syntax survive the round trip.
  const std::string odd = path("g #1: 'x\" - [y]");
  std::filesystem::create_directories(odd);
  write_fixed(path("p.yaml"), "min_size: 1\n");
  add_guest(registry, guest("web", path("g1") + "/"));
  add_guest(registry, guest("odd", odd, path("p.yaml")));
  EXPECT_EQ(names_in(registry), (std::vector<std::string>{"odd.yaml", "web.yaml"}));  // no temporary left
  const GuestEntry web = load_guest_file(registry + "/web.yaml");
  EXPECT_EQ(web.root, path("g1"));
  EXPECT_EQ(web.policy, "");
  const GuestEntry o = load_guest_file(registry + "/odd.yaml");
  EXPECT_EQ(o.root, odd);
  EXPECT_EQ(o.policy, path("p.yaml"));
  struct stat st = {};
  ASSERT_EQ(::stat((registry + "/web.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST_F(GuestRegistryTest, AddRefusesAndWritesNothing)
{
  write_fixed(path("file"), "x");
  write_fixed(path("bad-policy.yaml"), "colour: red\n");
  std::filesystem::create_symlink(path("g1"), path("g1-link"));
  add_guest(registry, guest("web", path("g1")));
  const auto refused = [&](const GuestEntry& g) { return config_error([&] { add_guest(registry, g); }); };
  EXPECT_EQ(refused(guest("-x", path("g2"))),
            "bad guest name '-x': up to 64 letters, digits, '_', '.' and '-', starting with a letter or digit");
  EXPECT_EQ(refused(guest("x", "g2")), "guest root must be an absolute path, got 'g2'");
  EXPECT_EQ(refused(guest("x", path("g2"), "p.yaml")), "guest policy must be an absolute path, got 'p.yaml'");
  EXPECT_EQ(refused(guest("x", path("none"))), "guest root " + path("none") + ": No such file or directory");
  EXPECT_EQ(refused(guest("x", path("file"))), "guest root " + path("file") + " is no directory");
  EXPECT_EQ(refused(guest("x", "/")), "guest root / is the host's root directory");
  EXPECT_EQ(refused(guest("x", path("g2"), path("bad-policy.yaml"))),
            path("bad-policy.yaml") + ":1:1: unknown key 'colour'");
  EXPECT_EQ(refused(guest("web", path("g2"))), "guest web is registered already (" + registry + "/web.yaml)");
  // The same directory by another path.
  EXPECT_EQ(refused(guest("x", path("g1-link"))),
            "guest root " + path("g1-link") + " is registered already, as guest web (" + registry + "/web.yaml)");
  EXPECT_EQ(names_in(registry), (std::vector<std::string>{"web.yaml"}));
}

TEST_F(GuestRegistryTest, ConcurrentAddsOfOneNameOrRootRegisterItOnce)
{
  std::atomic<int> added{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    // Half of them race for the name, half for the root under other names.
    threads.emplace_back([&, i] {
      try {
        add_guest(registry, guest(i % 2 ? "same" : "n" + std::to_string(i), path(i % 2 ? "g2" : "g1")));
        ++added;
      } catch (const ConfigError&) {
        ++refused;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(added, 2);
  EXPECT_EQ(refused, 6);
  const GuestRegistry r = load_guests(registry);
  EXPECT_EQ(r.guests.size(), 2u);
  EXPECT_TRUE(r.errors.empty());
  EXPECT_EQ(names_in(registry).size(), 2u);
}

TEST_F(GuestRegistryTest, Remove)
{
  EXPECT_FALSE(remove_guest(registry, "web"));  // no registry yet
  add_guest(registry, guest("web", path("g1")));
  EXPECT_TRUE(remove_guest(registry, "web"));
  EXPECT_FALSE(remove_guest(registry, "web"));
  EXPECT_TRUE(names_in(registry).empty());
  EXPECT_EQ(config_error([&] { remove_guest(registry, "../etc/passwd"); }), "bad guest name '../etc/passwd'");
  // Its root can be registered again.
  add_guest(registry, guest("web2", path("g1")));
  EXPECT_EQ(load_guests(registry).guests.at(0).name, "web2");
}

TEST_F(GuestRegistryTest, TheDirectoryAndTheAgentSocket)
{
  const char* old = std::getenv("PKGUNIFY_GUESTS_DIR");
  ::setenv("PKGUNIFY_GUESTS_DIR", registry.c_str(), 1);
  EXPECT_EQ(guests_dir(), registry);
  ::setenv("PKGUNIFY_GUESTS_DIR", "", 1);
  EXPECT_EQ(guests_dir(), "/etc/pkgunify/guests.d");
  if (old) {
    ::setenv("PKGUNIFY_GUESTS_DIR", old, 1);
  } else {
    ::unsetenv("PKGUNIFY_GUESTS_DIR");
  }
  EXPECT_EQ(guest_agent_socket("web"), runtime_dir_path() + "/guests/web/agent.sock");
}

TEST_F(GuestRegistryTest, GroupsByFilesystemAndPolicy)
{
  pkgunify::test::ScratchMount other;
  if (const std::string why = other.mount("tmpfs"); !why.empty()) {
    GTEST_SKIP() << why;
  }
  std::filesystem::create_directories(other.path("g3"));
  write_fixed(path("here.yaml"), "store: " + path("store") + "\n");
  write_fixed(path("there.yaml"), "store: " + other.path("store") + "\n");
  const std::vector<GuestEntry> guests{
    guest("a", path("g1"), path("here.yaml")),   guest("b", other.path("g3"), path("here.yaml")),
    guest("c", path("g2"), path("here.yaml")),   guest("d", path("g2"), path("there.yaml")),
    guest("e", path("none"), path("here.yaml")), guest("f", path("g1"), path("broken.yaml")),
  };
  const GuestGroups g = group_guests(guests, "");
  ASSERT_EQ(g.groups.size(), 3u);
  // The policy's store where it is on the guests' filesystem ...
  EXPECT_EQ(g.groups[0].store, path("store"));
  EXPECT_EQ(g.groups[0].policy_file, path("here.yaml"));
  EXPECT_EQ(guest_roots(g.groups[0]), (std::vector<std::string>{path("g1"), path("g2")}));
  // ... else the one at the top of their filesystem.
  EXPECT_EQ(g.groups[1].store, other.dir() + "/.pkgunify-store");
  EXPECT_EQ(g.groups[1].guests.at(0).name, "b");
  EXPECT_EQ(g.groups[2].store, Store::default_location(path("g2")));
  EXPECT_EQ(g.groups[2].policy_file, path("there.yaml"));
  ASSERT_EQ(g.errors.size(), 2u);
  EXPECT_EQ(g.errors[0].guest, "e");
  EXPECT_EQ(g.errors[0].message, "guest e: guest root " + path("none") + ": No such file or directory");
  EXPECT_EQ(g.errors[1].guest, "f");
  EXPECT_TRUE(g.errors[1].message.starts_with("guest f: " + path("broken.yaml") + ": cannot read policy"))
    << g.errors[1].message;
  EXPECT_FALSE(std::filesystem::exists(other.dir() + "/.pkgunify-store"));  // grouping creates nothing
}

TEST_F(GuestRegistryTest, AStoreInAGuestsReachIsRefused)
{
  write_fixed(path("inside.yaml"), "store: " + path("g1/var/store") + "\n");
  const GuestGroups g =
    group_guests({guest("a", path("g1"), path("inside.yaml")), guest("b", path("g2"))}, path("inside.yaml"));
  EXPECT_TRUE(g.groups.empty());
  ASSERT_EQ(g.errors.size(), 2u);
  EXPECT_EQ(g.errors[1].message, "guest b: its store " + path("g1/var/store")
                                   + " would lie inside the root of guest a ("
                                   + std::filesystem::canonical(path("g1")).string()
                                   + "), in that guest's reach; set 'store:' in the policy to a directory on the same "
                                     "filesystem outside every guest");
}
