// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/verify.hpp"
#include "testutil.hpp"

#include <fcntl.h>

using namespace pkgunify;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {

class VerifyTest : public TempDirTest
{
protected:
  std::string
  digest(const std::string& content, DigestAlgo algo)
  {
    write_fixed(path("f"), content);
    sys::Fd fd(::open(path("f").c_str(), O_RDONLY | O_CLOEXEC));
    std::uint64_t bytes = 0;
    auto d = file_digest(fd.get(), algo, "f", &bytes);
    EXPECT_TRUE(d.has_value());
    EXPECT_EQ(bytes, content.size());
    return d ? *d : std::string();
  }
};

}  // namespace

// The digests rpm and dpkg record, for known inputs.
TEST_F(VerifyTest, FileDigestMatchesKnownVectors)
{
  EXPECT_EQ(digest("abc", DigestAlgo::md5), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(digest("abc", DigestAlgo::sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(digest("abc", DigestAlgo::sha256), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest("", DigestAlgo::sha256), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest(std::string(3 << 20, 'x'), DigestAlgo::md5).size(), 32u);  // larger than one read
}

TEST_F(VerifyTest, FileDigestOfNoAlgorithmOrBadFdIsAnError)
{
  write_fixed(path("f"), "abc");
  sys::Fd fd(::open(path("f").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(file_digest(fd.get(), DigestAlgo::none, "f").has_value());
  auto bad = file_digest(-1, DigestAlgo::sha256, "the/file");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("the/file"), std::string::npos) << bad.error().message;
}
