// SPDX-License-Identifier: GPL-2.0-or-later
// Every file of the fuzzing seed corpus (tests/fuzz/corpus/<target>/) through
// its parser, as the fuzzers run it: each input is accepted or gives a clear
// error naming its file; nothing else escapes. This is the fuzzers'
// regression run inside the normal test suite; the fuzzers themselves
// (-DPKGUNIFY_FUZZ=ON, clang) explore beyond it (docs/reliability.md).
#include "targets.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

namespace pkgunify::fuzz {
namespace {

namespace fs = std::filesystem;

class FuzzCorpus : public ::testing::TestWithParam<const char*>
{};

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpus,
                         ::testing::Values("policy", "dpkg_status", "dpkg_info", "deb", "rpmdb", "rpm"),
                         [](const ::testing::TestParamInfo<const char*>& p) { return std::string(p.param); });

TEST_P(FuzzCorpus, EveryInputIsAcceptedOrGivesAClearError)
{
  const Target* target = find_target(GetParam());
  ASSERT_NE(target, nullptr);
  const fs::path dir = fs::path(PKGUNIFY_SOURCE_DIR) / "tests/fuzz/corpus" / GetParam();
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int accepted = 0;
  int rejected = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::string error;
    EXPECT_NO_THROW(error = target->run(data)) << entry.path();
    if (error.empty()) {
      ++accepted;
    } else {
      ++rejected;
      EXPECT_NE(error.find(target->names_file), std::string::npos)
        << entry.path() << ": the error does not name the input file: " << error;
    }
  }
  // The corpus holds valid inputs and malformed ones.
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, 0);
  RecordProperty("accepted", accepted);
  RecordProperty("rejected", rejected);
}

}  // namespace
}  // namespace pkgunify::fuzz
