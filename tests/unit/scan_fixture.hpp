// SPDX-License-Identifier: GPL-2.0-or-later
// The fixture of the engine's scan tests (pipeline, link strategies): guest
// roots and a store on one filesystem, a scan through the public Unifier,
// and what the scan left behind. As root the files live on a tmpfs of their
// own: a scan's syncfs there costs nothing, on /tmp it waits for whatever
// else the machine is writing.
#pragma once

#include "engine/scanner.hpp"
#include "scratch_mount.hpp"
#include "testutil.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace pkgunify::test {

class ScanTest : public TempDirTest
{
protected:
  void
  SetUp() override
  {
    TempDirTest::SetUp();
    on_tmpfs = m_tmpfs.mount("tmpfs").empty();
    base = on_tmpfs ? m_tmpfs.dir() : dir;
  }

  // A path below the test's filesystem.
  [[nodiscard]] std::string
  at(const std::string& rel) const
  {
    return base + "/" + rel;
  }

  // Scans `roots` (below at()) into the store at("store").
  ScanStats
  scan(const std::vector<std::string>& roots, const ScanOptions& opt, const std::string& store_rel = "store")
  {
    const Store store = Store::open(at(store_rel), Store::Create::if_missing);
    Unifier u(store, opt, reporter);
    for (const auto& r : roots) {
      u.add_tree(u.add_root(at(r)));
    }
    return u.run();
  }

  // Every regular file below at(root) ("root/dir/name") and the object
  // ("fanout/name") its inode is in the store at(store_rel), "" for none.
  [[nodiscard]] std::map<std::string, std::string>
  linked_objects(const std::vector<std::string>& roots, const std::string& store_rel = "store") const
  {
    const Store store = Store::open(at(store_rel), Store::Create::no);
    const auto objects = store.object_paths_by_inode();
    const std::string prefix = store.path() + "/objects/";
    std::map<std::string, std::string> out;
    for (const auto& root : roots) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(at(root))) {
        struct stat st = {};
        if (::lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
          continue;
        }
        const auto it = objects.find(st.st_ino);
        std::string object = it == objects.end() ? std::string() : it->second;
        if (object.starts_with(prefix)) {
          object.erase(0, prefix.size());
        }
        out[e.path().string().substr(base.size() + 1)] = object;
      }
    }
    return out;
  }

  CollectingReporter reporter;
  std::string base;
  bool on_tmpfs = false;  // base is a tmpfs of the test's own

private:
  ScratchMount m_tmpfs;
};

// Every counter of `s`, for comparing scans (and readable when they differ),
// but bytes_copied: how often a file copies an object that another file of
// its content was making too depends on the threads' timing.
inline std::string
describe(const ScanStats& s)
{
  std::ostringstream out;
  out << "files_seen=" << s.files_seen << " candidates=" << s.candidates << " linked=" << s.linked
      << " already_linked=" << s.already_linked << " objects_created=" << s.objects_created
      << " bytes_read=" << s.bytes_read << " bytes_saved=" << s.bytes_saved
      << " leftovers_cleaned=" << s.leftovers_cleaned << " protection_fixed=" << s.protection_fixed
      << " errors=" << s.errors;
  for (const auto& [reason, n] : s.skipped) {
    out << " skipped[" << reason << "]=" << n;
  }
  return out.str();
}

}  // namespace pkgunify::test
