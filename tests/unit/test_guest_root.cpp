// SPDX-License-Identifier: GPL-2.0-or-later
// open_root (guest/root.cpp): the one way to open a guest root.
#include "guest/root.hpp"
#include "sys/exceptions.hpp"
#include "testutil.hpp"

#include <unistd.h>

namespace {

using namespace pkgunify;
using pkgunify::test::write_fixed;

class RootTest : public pkgunify::test::TempDirTest
{};

std::string
config_error(const std::string& path)
{
  try {
    (void)open_root(path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(RootTest, OpensADirectoryAndDropsTrailingSlashes)
{
  ASSERT_EQ(::mkdir(path("g").c_str(), 0755), 0);
  const GuestRoot root = open_root(path("g") + "//");
  EXPECT_EQ(root.path, path("g"));
  EXPECT_TRUE(root.fd);
  EXPECT_TRUE(S_ISDIR(root.st.st_mode));
  struct stat st;
  ASSERT_EQ(::stat(path("g").c_str(), &st), 0);
  EXPECT_EQ(root.st.st_ino, st.st_ino);
  EXPECT_EQ(open_root("/").path, "/");
}

TEST_F(RootTest, FollowsTheAdminsSymlinkToTheRoot)
{
  ASSERT_EQ(::mkdir(path("g").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(path("g").c_str(), path("link").c_str()), 0);
  const GuestRoot root = open_root(path("link"));
  EXPECT_EQ(root.path, path("link"));
  struct stat st;
  ASSERT_EQ(::stat(path("g").c_str(), &st), 0);
  EXPECT_EQ(root.st.st_ino, st.st_ino);
}

TEST_F(RootTest, MissingRootOrFileIsAConfigErrorNamingIt)
{
  const std::string missing = config_error(path("missing"));
  EXPECT_EQ(missing.rfind("root ", 0), 0u) << missing;
  EXPECT_NE(missing.find(path("missing")), std::string::npos) << missing;
  write_fixed(path("file"), "x");
  const std::string file = config_error(path("file"));
  EXPECT_EQ(file.rfind("root ", 0), 0u) << file;
  EXPECT_NE(file.find(path("file")), std::string::npos) << file;
}

}  // namespace
