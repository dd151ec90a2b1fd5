// Shared fixture for unit tests: a fresh temporary directory per test.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

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

} // namespace pkgunify::test
