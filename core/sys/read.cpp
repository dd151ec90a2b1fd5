// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/read.hpp"

#include "sys/fd.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pkgunify::sys {

Result<std::uint64_t>
read_chunks(int fd, std::vector<char>& buffer, const ChunkFn& fn, std::string_view display, std::uint64_t limit)
{
  if (buffer.empty()) {
    buffer.resize(k_chunk_size);
  }
  std::uint64_t offset = 0;
  while (offset < limit) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), limit - offset));
    const ssize_t n = ::pread(fd, buffer.data(), want, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail_sys("read", display);
    }
    if (n == 0) {
      break;
    }
    if (auto r = fn(buffer.data(), static_cast<std::size_t>(n)); !r) {
      return std::unexpected(r.error());
    }
    offset += static_cast<std::uint64_t>(n);
  }
  return offset;
}

Result<std::string>
read_small_file(int fd, std::size_t max_size, std::string_view display)
{
  struct stat st = {};
  if (::fstat(fd, &st) != 0) {
    return fail_sys("stat", display);
  }
  if (S_ISDIR(st.st_mode)) {
    return fail_sys("read", display, EISDIR);
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(std::string(display) + ": not a regular file", EINVAL);
  }
  std::string data;
  std::vector<char> buffer(std::min<std::size_t>(k_chunk_size, max_size + 1));
  auto n = read_chunks(
    fd, buffer,
    [&](const char* chunk, std::size_t size) -> Result<void> {
      data.append(chunk, size);
      return {};
    },
    display, static_cast<std::uint64_t>(max_size) + 1);
  if (!n) {
    return std::unexpected(n.error());
  }
  if (data.size() > max_size) {
    return fail(std::string(display) + ": larger than " + std::to_string(max_size) + " bytes, the most it may hold",
                EFBIG);
  }
  return data;
}

Result<std::string>
read_small_file_at(int dirfd, const std::string& name, std::size_t max_size, std::string_view display)
{
  auto fd = open_regular_at(dirfd, name, O_RDONLY, display);
  if (!fd) {
    return std::unexpected(fd.error());
  }
  return read_small_file(fd->get(), max_size, display);
}

Result<void>
write_sparse(int fd, const char* data, std::size_t size, std::uint64_t offset, std::string_view display)
{
  constexpr std::size_t k_block = 4096;
  auto zero = [](const char* p, std::size_t n) { return n > 0 && p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0; };
  std::size_t i = 0;
  while (i < size) {
    const std::size_t n = std::min(k_block, size - i);
    if (zero(data + i, n)) {
      i += n;
      continue;
    }
    std::size_t end = i + n;  // a run of blocks with data, written at once
    while (end < size && !zero(data + end, std::min(k_block, size - end))) {
      end += std::min(k_block, size - end);
    }
    std::size_t done = i;
    while (done < end) {
      const ssize_t w = ::pwrite(fd, data + done, end - done, static_cast<off_t>(offset + done));
      if (w < 0 && errno == EINTR) {
        continue;
      }
      if (w <= 0) {
        return fail_sys("write", display);
      }
      done += static_cast<std::size_t>(w);
    }
    i = end;
  }
  return {};
}

std::uint64_t
counted_size(const struct stat& st)
{
  const auto size = static_cast<std::uint64_t>(st.st_size);
  const auto allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  return allocated == 0 ? size : std::min(size, allocated);
}

namespace {

// Copies [begin, end) of `from` to the same offsets of `to`.
Result<void>
copy_range(int from, int to, std::uint64_t begin, std::uint64_t end, std::vector<char>& buffer,
           std::string_view display)
{
  loff_t in = static_cast<loff_t>(begin);
  loff_t out = in;
  while (static_cast<std::uint64_t>(in) < end) {
    const ssize_t n = ::copy_file_range(from, &in, to, &out, end - static_cast<std::uint64_t>(in), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n > 0) {
      continue;
    }
    if (n < 0 && errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS) {
      return fail_sys("copy", display);
    }
    break;  // not supported here (or the file shrank): read and write the rest
  }
  if (buffer.empty()) {
    buffer.resize(k_chunk_size);
  }
  while (static_cast<std::uint64_t>(in) < end) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end - in));
    const ssize_t n = ::pread(from, buffer.data(), want, in);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return fail_sys("read", display);
    }
    if (n == 0) {
      break;
    }
    if (auto w = write_sparse(to, buffer.data(), static_cast<std::size_t>(n), static_cast<std::uint64_t>(in), display);
        !w) {
      return w;
    }
    in += n;
  }
  return {};
}

}  // namespace

Result<void>
copy_content(int from, int to, std::uint64_t size, std::string_view display)
{
  std::vector<char> buffer;
  std::uint64_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(from, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno == ENXIO) {
      break;  // only a hole is left
    }
    off_t hole = data < 0 ? -1 : ::lseek(from, data, SEEK_HOLE);
    if (data < 0 || hole < 0) {  // no SEEK_DATA here: all of it is data
      data = static_cast<off_t>(pos);
      hole = static_cast<off_t>(size);
    }
    const auto end = std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), size);
    if (auto r = copy_range(from, to, static_cast<std::uint64_t>(data), end, buffer, display); !r) {
      return r;
    }
    pos = end;
  }
  if (::ftruncate(to, static_cast<off_t>(size)) != 0) {
    return fail_sys("copy", display);
  }
  return {};
}

}  // namespace pkgunify::sys
