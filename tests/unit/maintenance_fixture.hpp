// SPDX-License-Identifier: GPL-2.0-or-later
// The fixture of the maintenance unit tests (stats, fsck, gc, status,
// unprotect): three guests scanned into one store.
#pragma once

#include "maintenance/maintenance.hpp"
#include "testutil.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>

namespace pkgunify::test {

// Three guests: "tool" in all of them, "lib" in two, "own" in one.
class MaintenanceTest : public TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    for (const char* g : {"g1", "g2", "g3"}) {
      write_fixed(path(std::string(g) + "/usr/bin/tool"), std::string(10000, 't'));
    }
    for (const char* g : {"g1", "g2"}) {
      write_fixed(path(std::string(g) + "/usr/lib/lib"), std::string(3000, 'l'));
    }
    write_fixed(path("g3/usr/bin/own"), std::string(500, 'o'));
    store = std::make_unique<Store>(Store::open(path("store"), Store::Create::if_missing));
    ScanOptions opt;
    opt.link = LinkMode::hardlink;
    Unifier u(*store, opt, reporter);
    for (const char* g : {"g1", "g2", "g3"}) {
      u.add_tree(u.add_root(path(g)));
    }
    const ScanStats s = u.run();
    ASSERT_EQ(s.errors, 0u);
    ASSERT_EQ(s.objects_created, 3u);
  }

  // The path of the object `guest_file` links to.
  std::string
  object_of(const std::string& guest_file)
  {
    struct stat g = {};
    EXPECT_EQ(::stat(guest_file.c_str(), &g), 0);
    for (const auto& e : std::filesystem::recursive_directory_iterator(path("store"))) {
      struct stat o = {};
      if (e.is_regular_file() && ::stat(e.path().c_str(), &o) == 0 && o.st_ino == g.st_ino) {
        return e.path();
      }
    }
    return {};
  }

  CollectingReporter reporter;
  std::unique_ptr<Store> store;
};

}  // namespace pkgunify::test
