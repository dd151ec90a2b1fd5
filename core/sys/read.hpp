// SPDX-License-Identifier: GPL-2.0-or-later
// Reading files: the one chunked reader every content read goes through
// (hashing, copying, verifying), and the one reader of small files whole
// (policies, package databases, store format, stamps).
#pragma once

#include "sys/error.hpp"

#include <sys/stat.h>

#include <cstddef>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pkgunify::sys {

// Receives each chunk read; an error stops the read and is returned.
using ChunkFn = std::function<Result<void>(const char* data, std::size_t size)>;

// Reads `fd` from offset 0 to its end with pread (the descriptor's offset is
// left alone), in chunks of `buffer`'s size (1 MiB when it is empty), and
// passes each to `fn`. Stops after `limit` bytes: a caller that expects a
// size passes one more, so that a file that grew shows. Returns the number
// of bytes read. Retries EINTR.
Result<std::uint64_t> read_chunks(int fd, std::vector<char>& buffer, const ChunkFn& fn, std::string_view display,
                                  std::uint64_t limit = UINT64_MAX);

// The default chunk size.
inline constexpr std::size_t k_chunk_size = 1 << 20;

// Reads the whole regular file `fd` refers to. Fails with an error naming
// the file when it is a directory (EISDIR), another non-regular file
// (EINVAL), or holds more than `max_size` bytes (EFBIG, whatever its st_size
// says: a sparse file is no way around it).
Result<std::string> read_small_file(int fd, std::size_t max_size, std::string_view display);

// The same for `name` in `dirfd`, opened by sys::open_regular_at: a symlink,
// FIFO or device node in its place is never opened (EINVAL, "not a regular
// file"; EISDIR, ELOOP for a directory or symlink).
Result<std::string> read_small_file_at(int dirfd, const std::string& name, std::size_t max_size,
                                       std::string_view display);

// Copies every byte of `from` (from offset 0) to `to`, which is empty,
// keeping `from`'s holes: only the data ranges SEEK_DATA/SEEK_HOLE find are
// copied (copy_file_range where the kernel can, else read and write_sparse),
// and the size is set at the end.
Result<void> copy_content(int from, int to, std::uint64_t size, std::string_view display);

// Writes `data` at `offset` of `fd`, leaving every 4 KiB block that is all
// zeros unwritten (a hole once the file's size is set with ftruncate), so
// that a sparse file's copy stays sparse.
Result<void> write_sparse(int fd, const char* data, std::size_t size, std::uint64_t offset, std::string_view display);

// The bytes a file takes on disk, for the savings: its size, or less for a
// sparse file (st_blocks; a file whose data lives inline in the metadata,
// with no blocks, counts its size).
std::uint64_t counted_size(const struct stat& st);

}  // namespace pkgunify::sys
