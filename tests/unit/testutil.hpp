// SPDX-License-Identifier: GPL-2.0-or-later
// Shared fixture for unit tests: a fresh temporary directory per test.
#pragma once

#include "engine/scanner.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace pkgunify::test {

class TempDirTest : public ::testing::Test
{
protected:
  void
  SetUp() override
  {
    char tmpl[] = "/tmp/pkgunify-unit.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }

  void
  TearDown() override
  {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  [[nodiscard]] std::string
  path(const std::string& rel) const
  {
    return dir + "/" + rel;
  }

  std::string dir;
};

// Writes `content` to `path` (parent directories made) with mtime
// 1600000000, so that files written apart are identical for pkgunify.
inline void
write_fixed(const std::string& path, const std::string& content)
{
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  const struct timespec times[2] = {{0, UTIME_OMIT}, {1600000000, 0}};
  ::utimensat(AT_FDCWD, path.c_str(), times, 0);
}

inline ino_t
inode_of(const std::string& path)
{
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The message of the PackageDbError `fn` throws, or "(no error)".
template<typename Fn>
std::string
db_error(Fn&& fn)
{
  try {
    fn();
  } catch (const PackageDbError& e) {
    return e.what();
  }
  return "(no error)";
}

// Keeps what the code under test reports.
class CollectingReporter : public Reporter
{
public:
  void
  error(std::string_view message) override
  {
    errors.emplace_back(message);
  }
  void
  warning(std::string_view message) override
  {
    warnings.emplace_back(message);
  }
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

// All paths of 1..depth components over `names`, each below `dir`
// ("/" + {"a","b"}, depth 2: /a /a/a /a/b /b /b/a /b/b).
inline void
paths_below(const std::string& dir, const std::vector<std::string>& names, int depth, std::vector<std::string>& out)
{
  if (depth == 0) {
    return;
  }
  for (const auto& name : names) {
    const std::string path = (dir == "/" ? "" : dir) + "/" + name;
    out.push_back(path);
    paths_below(path, names, depth - 1, out);
  }
}

}  // namespace pkgunify::test
