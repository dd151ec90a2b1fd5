// SPDX-License-Identifier: GPL-2.0-or-later
#include "procutil.hpp"
#include "store/store.hpp"
#include "sys/exceptions.hpp"
#include "sys/fs.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

using pkgunify::ConfigError;
using pkgunify::ObjectId;
using pkgunify::Store;
using pkgunify::test::read_file;
using pkgunify::test::TempDirTest;
namespace sys = pkgunify::sys;

namespace {

class StoreTest : public TempDirTest
{};

ObjectId
id_from(const std::string& hex)
{
  pkgunify::Digest d{};
  EXPECT_TRUE(pkgunify::from_hex(hex, d));
  return ObjectId(d);
}

const std::string k_hex = "d35efc2d78339b5b6a0fa6619ca3e94f0757aa8991a83e98865c8db8ddcb8afa";

}  // namespace

TEST_F(StoreTest, CreateWritesFormatAndFanout)
{
  const Store s = Store::open(path("store"), Store::Create::if_missing);
  EXPECT_EQ(read_file(path("store/format")), "pkgunify-store 1\n");
  EXPECT_TRUE(std::filesystem::is_directory(path("store/objects/00")));
  EXPECT_TRUE(std::filesystem::is_directory(path("store/objects/ff")));
  EXPECT_TRUE(std::filesystem::is_directory(path("store/tmp")));
  EXPECT_TRUE(std::filesystem::is_directory(path("store/quarantine")));
  struct stat st;
  ASSERT_EQ(::stat(path("store").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(StoreTest, ReopenExistingStore)
{
  Store::open(path("store"), Store::Create::if_missing);
  EXPECT_NO_THROW(Store::open(path("store"), Store::Create::no));
}

TEST_F(StoreTest, MissingStoreWithoutCreateIsConfigError)
{
  EXPECT_THROW(Store::open(path("nope"), Store::Create::no), ConfigError);
}

TEST_F(StoreTest, ForeignDirectoryIsRefused)
{
  std::filesystem::create_directories(path("notastore"));
  std::ofstream(path("notastore/important")) << "data";
  try {
    Store::open(path("notastore"), Store::Create::if_missing);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not a pkgunify store"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("important"), std::string::npos);
  }
  EXPECT_EQ(read_file(path("notastore/important")), "data");
}

TEST_F(StoreTest, WrongFormatVersionIsRefused)
{
  Store::open(path("store"), Store::Create::if_missing);
  std::ofstream(path("store/format"), std::ios::trunc) << "pkgunify-store 99\n";
  try {
    Store::open(path("store"), Store::Create::no);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("pkgunify-store 99"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("/format"), std::string::npos);
  }
}

TEST_F(StoreTest, RelativePathIsRefused)
{
  EXPECT_THROW(Store::open("relative/store", Store::Create::if_missing), ConfigError);
}

TEST(StoreNames, ObjectNameAndParseRoundTrip)
{
  const ObjectId id = id_from(k_hex);
  EXPECT_EQ(Store::object_name(id, 0), k_hex.substr(2));
  EXPECT_EQ(Store::object_name(id, 3), k_hex.substr(2) + ".3");
  ObjectId parsed;
  unsigned successor = 99;
  ASSERT_TRUE(Store::parse_object_name(0xd3, k_hex.substr(2), parsed, successor));
  EXPECT_EQ(parsed, id);
  EXPECT_EQ(successor, 0u);
  ASSERT_TRUE(Store::parse_object_name(0xd3, k_hex.substr(2) + ".12", parsed, successor));
  EXPECT_EQ(successor, 12u);
}

TEST(StoreNames, ParseRejectsNonObjects)
{
  ObjectId id;
  unsigned successor = 0;
  EXPECT_FALSE(Store::parse_object_name(0, "short", id, successor));
  EXPECT_FALSE(Store::parse_object_name(0, k_hex.substr(2) + ".", id, successor));
  EXPECT_FALSE(Store::parse_object_name(0, k_hex.substr(2) + ".0", id, successor));
  EXPECT_FALSE(Store::parse_object_name(0, k_hex.substr(2) + ".01", id, successor));
  EXPECT_FALSE(Store::parse_object_name(0, k_hex.substr(2) + ".x", id, successor));
  EXPECT_FALSE(Store::parse_object_name(0, k_hex.substr(2) + "x", id, successor));
  std::string upper = k_hex.substr(2);
  upper[0] = 'D';
  EXPECT_FALSE(Store::parse_object_name(0, upper, id, successor));
}

TEST_F(StoreTest, PublishIsAtomicAndReportsExisting)
{
  const Store s = Store::open(path("store"), Store::Create::if_missing);
  const ObjectId id = id_from(k_hex);
  auto st0 = s.stat_object(id, 0);
  ASSERT_TRUE(st0);
  EXPECT_FALSE(st0->has_value());

  auto t1 = s.make_temp();
  ASSERT_TRUE(t1);
  ASSERT_TRUE(sys::write_all(t1->get(), "first", 5, "t1"));
  auto p1 = s.publish(t1->get(), id, 0);
  ASSERT_TRUE(p1);
  EXPECT_TRUE(*p1);

  auto t2 = s.make_temp();
  ASSERT_TRUE(t2);
  ASSERT_TRUE(sys::write_all(t2->get(), "second", 6, "t2"));
  auto p2 = s.publish(t2->get(), id, 0);
  ASSERT_TRUE(p2);
  EXPECT_FALSE(*p2);  // exists: the first one stays

  EXPECT_EQ(read_file(s.object_path(id, 0)), "first");
  EXPECT_EQ(s.object_path(id, 0), path("store/objects/d3/") + k_hex.substr(2));
  auto st = s.stat_object(id, 0);
  ASSERT_TRUE(st);
  ASSERT_TRUE(st->has_value());
  EXPECT_EQ((*st)->st_size, 5);
  // An unpublished temporary file leaves nothing in STORE/tmp.
  EXPECT_TRUE(std::filesystem::is_empty(path("store/tmp")));
}

TEST_F(StoreTest, ObjectInodesListsEveryObject)
{
  const Store s = Store::open(path("store"), Store::Create::if_missing);
  const ObjectId id = id_from(k_hex);
  auto t = s.make_temp();
  ASSERT_TRUE(t);
  ASSERT_TRUE(s.publish(t->get(), id, 0));
  ASSERT_TRUE(s.publish(t->get(), id, 1));  // a successor name for the same file
  struct stat st;
  ASSERT_EQ(::fstat(t->get(), &st), 0);
  const auto inodes = s.object_inodes();
  EXPECT_EQ(inodes.size(), 1u);
  EXPECT_TRUE(inodes.contains(st.st_ino));
}

TEST_F(StoreTest, DefaultLocationIsTopOfFilesystem)
{
  // /tmp's filesystem top is some ancestor on the same device; the default
  // store sits there, never below the root itself.
  std::filesystem::create_directories(path("guests/g1"));
  const std::string loc = Store::default_location(path("guests/g1"));
  EXPECT_TRUE(loc.ends_with("/.pkgunify-store"));
  const std::string top = loc.substr(0, loc.size() - std::string("/.pkgunify-store").size());
  struct stat a;
  struct stat b;
  ASSERT_EQ(::stat(path("guests/g1").c_str(), &a), 0);
  ASSERT_EQ(::stat(top.empty() ? "/" : top.c_str(), &b), 0);
  EXPECT_EQ(a.st_dev, b.st_dev);
  EXPECT_EQ(path("guests/g1").rfind(top, 0), 0u);
}

TEST_F(StoreTest, OtherFilesystemIsRefusedNamingBoth)
{
  const Store s = Store::open(path("store"), Store::Create::if_missing);
  struct stat st = {};
  st.st_dev = s.dev() + 1;
  try {
    s.check_same_filesystem(st, "/some/root");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/some/root"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(path("store")), std::string::npos);
  }
}

TEST_F(StoreTest, FanoutLockExclusiveBlocksShared)
{
  const Store s = Store::open(path("store"), Store::Create::if_missing);
  auto excl = s.lock_fanout(0xd3, sys::FileLock::Mode::exclusive);
  ASSERT_TRUE(excl);
  // A second open file description contends with the first.
  sys::Fd other(::open(path("store/objects/d3").c_str(), O_RDONLY | O_DIRECTORY));
  auto shared = sys::FileLock::try_acquire(other.get(), sys::FileLock::Mode::shared, "d3");
  EXPECT_FALSE(shared);
  excl->release();
  EXPECT_TRUE(sys::FileLock::try_acquire(other.get(), sys::FileLock::Mode::shared, "d3"));
}
