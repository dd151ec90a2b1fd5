#include "sys/read.hpp"

#include "sys/fd.hpp"
#include "sys/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

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
copy_content(int from, int to, std::uint64_t size, std::string_view display)
{
  loff_t in = 0;
  while (static_cast<std::uint64_t>(in) < size) {
    const ssize_t n = ::copy_file_range(from, &in, to, nullptr, size - static_cast<std::uint64_t>(in), 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS) {
      return fail_sys("copy", display);
    }
    if (n <= 0) {
      break;  // read/write below, from the start
    }
  }
  if (static_cast<std::uint64_t>(in) == size) {
    return {};
  }
  if (::ftruncate(to, 0) != 0 || ::lseek(to, 0, SEEK_SET) != 0) {
    return fail_sys("copy", display);
  }
  std::vector<char> buffer;
  auto n = read_chunks(
    from, buffer, [&](const char* data, std::size_t len) { return write_all(to, data, len, display); }, display);
  if (!n) {
    return std::unexpected(n.error());
  }
  return {};
}

}  // namespace pkgunify::sys
