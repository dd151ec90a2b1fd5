// SPDX-License-Identifier: GPL-2.0-or-later
// Read leases: refused while a writer exists (naming it), broken by a later
// open for writing (issue #15, items 1 and 2).
#include "sys/fd.hpp"
#include "sys/lease.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace pkgunify;
using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;

namespace {
class LeaseTest : public TempDirTest
{};
}  // namespace

TEST_F(LeaseTest, RefusedWhileAWriterHoldsTheFileAndTheWriterIsNamed)
{
  write_fixed(path("f"), "x");
  sys::Fd w(::open(path("f").c_str(), O_WRONLY));
  sys::Fd r(::open(path("f").c_str(), O_RDONLY));
  auto lease = sys::ReadLease::take(r.get(), "f");
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error().code, EAGAIN);
  EXPECT_NE(lease.error().message.find(std::to_string(::getpid())), std::string::npos) << lease.error().message;
  struct stat st;
  ASSERT_EQ(::stat(path("f").c_str(), &st), 0);
  const auto writers = sys::find_writers(st.st_dev, st.st_ino);
  ASSERT_EQ(writers.size(), 1u);
  EXPECT_EQ(writers[0], ::getpid());
  w.close();
  EXPECT_TRUE(sys::find_writers(st.st_dev, st.st_ino).empty());
  auto again = sys::ReadLease::take(r.get(), "f");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->intact());
}

TEST_F(LeaseTest, AnOpenForWritingElsewhereBreaksItAndWaitsForTheRelease)
{
  write_fixed(path("f"), "x");
  sys::Fd r(::open(path("f").c_str(), O_RDONLY));
  auto lease = sys::ReadLease::take(r.get(), "f");
  ASSERT_TRUE(lease) << lease.error().message;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int w = ::open(path("f").c_str(), O_WRONLY);
    ::_exit(w >= 0 ? 0 : 1);
  }
  // The broken lease does not kill its holder (SIGIO is ignored).
  for (int i = 0; i < 200 && lease->intact(); ++i) {
    ::usleep(5000);
  }
  EXPECT_FALSE(lease->intact());
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, WNOHANG), 0) << "the opener waits while the lease is held";
  lease->release();
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
