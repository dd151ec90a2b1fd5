// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/read.hpp"

#include "sys/fd.hpp"
#include "testutil.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <vector>

using pkgunify::test::TempDirTest;
using pkgunify::test::write_fixed;
namespace sys = pkgunify::sys;

namespace {

class ReadTest : public TempDirTest
{
protected:
  [[nodiscard]] sys::Fd
  open_file(const std::string& name) const
  {
    return sys::Fd(::open(path(name).c_str(), O_RDONLY | O_CLOEXEC));
  }

  [[nodiscard]] sys::Fd
  open_dir() const
  {
    return sys::Fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
};

// The sizes of the chunks read_chunks passes on, and their bytes.
struct Chunks
{
  std::vector<std::size_t> sizes;
  std::string data;

  [[nodiscard]] sys::ChunkFn
  collector()
  {
    return [this](const char* chunk, std::size_t size) -> sys::Result<void> {
      sizes.push_back(size);
      data.append(chunk, size);
      return {};
    };
  }
};

std::string
pattern(std::size_t size)
{
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>('a' + i % 26);
  }
  return out;
}

long
max_rss_kib()
{
  struct rusage usage = {};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

}  // namespace

TEST_F(ReadTest, ChunksHaveTheBufferSize)
{
  write_fixed(path("f"), pattern(10));
  const sys::Fd fd = open_file("f");
  std::vector<char> buffer(4);
  Chunks chunks;
  auto n = sys::read_chunks(fd.get(), buffer, chunks.collector(), "f");
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(chunks.sizes, (std::vector<std::size_t>{4, 4, 2}));
  EXPECT_EQ(chunks.data, pattern(10));
}

TEST_F(ReadTest, AnEmptyBufferGetsTheDefaultChunkSize)
{
  const std::string content = pattern(sys::k_chunk_size + 100);
  write_fixed(path("f"), content);
  const sys::Fd fd = open_file("f");
  std::vector<char> buffer;
  Chunks chunks;
  auto n = sys::read_chunks(fd.get(), buffer, chunks.collector(), "f");
  ASSERT_TRUE(n);
  EXPECT_EQ(buffer.size(), sys::k_chunk_size);
  EXPECT_EQ(sys::k_chunk_size, std::size_t{1} << 20);
  EXPECT_EQ(chunks.sizes, (std::vector<std::size_t>{sys::k_chunk_size, 100}));
  EXPECT_EQ(chunks.data, content);
}

TEST_F(ReadTest, EmptyFileGivesNoChunk)
{
  write_fixed(path("f"), "");
  const sys::Fd fd = open_file("f");
  std::vector<char> buffer(16);
  Chunks chunks;
  auto n = sys::read_chunks(fd.get(), buffer, chunks.collector(), "f");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_TRUE(chunks.sizes.empty());
}

TEST_F(ReadTest, LimitStopsTheRead)
{
  write_fixed(path("f"), pattern(100));
  const sys::Fd fd = open_file("f");
  std::vector<char> buffer(8);
  Chunks chunks;
  auto n = sys::read_chunks(fd.get(), buffer, chunks.collector(), "f", 11);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 11u);
  EXPECT_EQ(chunks.sizes, (std::vector<std::size_t>{8, 3}));
  EXPECT_EQ(chunks.data, pattern(11));
  // A limit past the end reads what there is.
  Chunks all;
  auto whole = sys::read_chunks(fd.get(), buffer, all.collector(), "f", 1000);
  ASSERT_TRUE(whole);
  EXPECT_EQ(*whole, 100u);
  // A limit of 0 reads nothing.
  Chunks none;
  auto zero = sys::read_chunks(fd.get(), buffer, none.collector(), "f", 0);
  ASSERT_TRUE(zero);
  EXPECT_EQ(*zero, 0u);
  EXPECT_TRUE(none.sizes.empty());
}

TEST_F(ReadTest, PreadLeavesTheOffsetAlone)
{
  write_fixed(path("f"), pattern(50));
  const sys::Fd fd = open_file("f");
  ASSERT_EQ(::lseek(fd.get(), 7, SEEK_SET), 7);
  std::vector<char> buffer(16);
  Chunks chunks;
  auto n = sys::read_chunks(fd.get(), buffer, chunks.collector(), "f");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 50u);  // from offset 0, not from 7
  EXPECT_EQ(chunks.data, pattern(50));
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 7);
  auto small = sys::read_small_file(fd.get(), 100, "f");
  ASSERT_TRUE(small);
  EXPECT_EQ(*small, pattern(50));
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_CUR), 7);
}

TEST_F(ReadTest, AnErrorOfTheCallbackStopsTheReadAndIsReturned)
{
  write_fixed(path("f"), pattern(100));
  const sys::Fd fd = open_file("f");
  std::vector<char> buffer(10);
  int calls = 0;
  auto n = sys::read_chunks(
    fd.get(), buffer,
    [&](const char*, std::size_t) -> sys::Result<void> {
      if (++calls == 2) {
        return sys::fail("stop here", 42);
      }
      return {};
    },
    "f");
  ASSERT_FALSE(n);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(n.error().code, 42);
  EXPECT_EQ(n.error().message, "stop here");
}

TEST_F(ReadTest, ReadErrorNamesTheFile)
{
  const sys::Fd d = open_dir();
  std::vector<char> buffer(16);
  Chunks chunks;
  auto n = sys::read_chunks(d.get(), buffer, chunks.collector(), "the/dir");
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code, EISDIR);
  EXPECT_EQ(n.error().message, "read the/dir: " + std::string(std::strerror(EISDIR)));
}

TEST_F(ReadTest, SmallFileUpToItsLimit)
{
  write_fixed(path("f"), pattern(64));
  const sys::Fd fd = open_file("f");
  auto exact = sys::read_small_file(fd.get(), 64, "f");
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(*exact, pattern(64));
  auto over = sys::read_small_file(fd.get(), 63, "the/file");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, EFBIG);
  EXPECT_EQ(over.error().message, "the/file: larger than 63 bytes, the most it may hold");
}

TEST_F(ReadTest, SmallFileLimitHoldsForSparseFilesAndFailsFast)
{
  const sys::Fd out(::open(path("sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_EQ(::ftruncate(out.get(), off_t{1} << 30), 0);  // 1 GiB, no block allocated
  const sys::Fd fd = open_file("sparse");
  const long rss_before = max_rss_kib();
  const auto start = std::chrono::steady_clock::now();
  auto r = sys::read_small_file(fd.get(), 1 << 20, "sparse");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EFBIG);
  EXPECT_EQ(r.error().message, "sparse: larger than 1048576 bytes, the most it may hold");
  EXPECT_LT(took, std::chrono::seconds(2));
  // It read a little more than the limit, never the whole GiB.
  EXPECT_LT(max_rss_kib() - rss_before, 64 * 1024);
  struct stat st = {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(st.st_blocks, 0);
}

TEST_F(ReadTest, SmallFileAtReadsBeneathTheDirectory)
{
  write_fixed(path("sub/f"), "content");
  const sys::Fd d = open_dir();
  auto r = sys::read_small_file_at(d.get(), "sub/f", 100, "sub/f");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(*r, "content");
}

TEST_F(ReadTest, SmallFileAtOfAFifoDoesNotBlockAndIsNotRegular)
{
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  const sys::Fd d = open_dir();
  auto pending =
    std::async(std::launch::async, [&] { return sys::read_small_file_at(d.get(), "fifo", 100, "the/fifo"); });
  if (pending.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    // Give the blocked open its writer, so that the test ends.
    const sys::Fd writer(::open(path("fifo").c_str(), O_WRONLY | O_CLOEXEC));
    pending.wait();
    FAIL() << "read_small_file_at blocked on a FIFO";
  }
  auto r = pending.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_EQ(r.error().message, "the/fifo: not a regular file");
}

TEST_F(ReadTest, SmallFileOfADirectoryIsEisdir)
{
  std::filesystem::create_directories(path("sub"));
  const sys::Fd d = open_dir();
  auto r = sys::read_small_file_at(d.get(), "sub", 100, "the/sub");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EISDIR);
  EXPECT_EQ(r.error().message, "read the/sub: " + std::string(std::strerror(EISDIR)));
  const sys::Fd sub(::open(path("sub").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto by_fd = sys::read_small_file(sub.get(), 100, "the/sub");
  ASSERT_FALSE(by_fd);
  EXPECT_EQ(by_fd.error().code, EISDIR);
}

TEST_F(ReadTest, SmallFileAtNeverFollowsASymlink)
{
  write_fixed(path("real"), "x");
  ASSERT_EQ(::symlink("real", path("link").c_str()), 0);
  const sys::Fd d = open_dir();
  auto r = sys::read_small_file_at(d.get(), "link", 100, "the/link");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ELOOP);
  EXPECT_EQ(r.error().message, "open the/link: " + std::string(std::strerror(ELOOP)));
}

TEST_F(ReadTest, SmallFileAtOfAMissingFileNamesIt)
{
  const sys::Fd d = open_dir();
  auto r = sys::read_small_file_at(d.get(), "missing", 100, "the/missing");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(r.error().message, "open the/missing: " + std::string(std::strerror(ENOENT)));
}

TEST_F(ReadTest, SmallFileOfABadDescriptorNamesIt)
{
  auto r = sys::read_small_file(-1, 100, "the/file");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EBADF);
  EXPECT_EQ(r.error().message, "stat the/file: " + std::string(std::strerror(EBADF)));
}

// Issue #15, item 5: a 1 GiB file holding one byte became a dense 1 GiB
// object. Copies keep holes.
namespace {

std::uint64_t
allocated(int fd)
{
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace

TEST_F(ReadTest, WriteSparseLeavesZeroBlocksAsHoles)
{
  sys::Fd fd(::open(path("out").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  std::string data(4 << 20, '\0');
  data[0] = 'a';
  data[(2 << 20) + 5] = 'b';
  data.back() = 'c';
  ASSERT_TRUE(sys::write_sparse(fd.get(), data.data(), data.size(), 4096, "out"));
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(data.size() + 4096)), 0);
  std::string back(data.size(), 'x');
  ASSERT_EQ(::pread(fd.get(), back.data(), back.size(), 4096), static_cast<ssize_t>(back.size()));
  EXPECT_TRUE(back == data);
  std::string head(4096, 'x');
  ASSERT_EQ(::pread(fd.get(), head.data(), head.size(), 0), 4096);
  EXPECT_EQ(head, std::string(4096, '\0'));
  EXPECT_LE(allocated(fd.get()), std::uint64_t{64} << 10) << "three blocks of data, the rest holes";
}

TEST_F(ReadTest, CopyContentKeepsTheHolesOfASparseFile)
{
  sys::Fd from(::open(path("sparse").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(from);
  constexpr off_t k_size = off_t{1} << 30;
  ASSERT_EQ(::ftruncate(from.get(), k_size), 0);
  ASSERT_EQ(::pwrite(from.get(), "x", 1, k_size - 1), 1);
  ASSERT_EQ(::pwrite(from.get(), "middle", 6, k_size / 2), 6);
  sys::Fd to(::open(path("copy").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(to);
  ASSERT_TRUE(sys::copy_content(from.get(), to.get(), static_cast<std::uint64_t>(k_size), "sparse"));
  struct stat st;
  ASSERT_EQ(::fstat(to.get(), &st), 0);
  EXPECT_EQ(st.st_size, k_size);
  EXPECT_LE(allocated(to.get()), std::uint64_t{1} << 20) << "the copy is as sparse as the file";
  char c = 0;
  ASSERT_EQ(::pread(to.get(), &c, 1, k_size - 1), 1);
  EXPECT_EQ(c, 'x');
  char mid[6] = {};
  ASSERT_EQ(::pread(to.get(), mid, 6, k_size / 2), 6);
  EXPECT_EQ(std::string(mid, 6), "middle");
  ASSERT_EQ(::pread(to.get(), &c, 1, 12345), 1);
  EXPECT_EQ(c, '\0');
}

TEST_F(ReadTest, CountedSizeIsTheAllocationOfASparseFileAndTheSizeOtherwise)
{
  struct stat st = {};
  st.st_size = 1 << 30;
  st.st_blocks = 8;  // 4 KiB
  EXPECT_EQ(sys::counted_size(st), 4096U);
  st.st_size = 100;
  EXPECT_EQ(sys::counted_size(st), 100U);  // a dense file: its size, not its rounded blocks
  st.st_blocks = 0;                        // inline in the metadata (btrfs)
  EXPECT_EQ(sys::counted_size(st), 100U);
}
