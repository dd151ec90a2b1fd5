// Shared fixture for unit tests: a fresh temporary directory per test.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
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

} // namespace pkgunify::test
