// SPDX-License-Identifier: GPL-2.0-or-later
#include "maintenance/stats.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <optional>
#include <vector>

namespace pkgunify {

namespace {

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

struct CachestatRange
{
  std::uint64_t off;
  std::uint64_t len;
};

struct Cachestat
{
  std::uint64_t nr_cache;
  std::uint64_t nr_dirty;
  std::uint64_t nr_writeback;
  std::uint64_t nr_evicted;
  std::uint64_t nr_recently_evicted;
};

// Resident page-cache bytes of `fd`: cachestat(2) where the kernel has it,
// else mmap + mincore.
std::optional<std::uint64_t>
resident_bytes(int fd, std::uint64_t size, std::string& method)
{
  static const long page = ::sysconf(_SC_PAGESIZE);
  CachestatRange range{0, 0};
  Cachestat cs{};
  if (::syscall(SYS_cachestat, fd, &range, &cs, 0) == 0) {
    method = "cachestat";
    return cs.nr_cache * static_cast<std::uint64_t>(page);
  }
  if (size == 0) {
    return 0;
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    return std::nullopt;
  }
  const std::size_t pages = (size + static_cast<std::uint64_t>(page) - 1) / static_cast<std::uint64_t>(page);
  std::vector<unsigned char> vec(pages);
  std::optional<std::uint64_t> out;
  if (::mincore(map, size, vec.data()) == 0) {
    std::uint64_t n = 0;
    for (const unsigned char v : vec) {
      n += v & 1;
    }
    out = n * static_cast<std::uint64_t>(page);
    method = "mincore";
  }
  ::munmap(map, size);
  return out;
}

// Adds one object to the counts.
class StatsCounter
{
public:
  StatsCounter(const Store& store, Reporter& reporter, MemoryStats* memory)
    : m_store(store)
    , m_reporter(reporter)
    , m_memory(memory)
  {}

  void
  object(const ObjectId& id, unsigned successor)
  {
    auto st = m_store.stat_object(id, successor);
    if (!st) {
      m_reporter.error(st.error().message);
      return;
    }
    if (!*st) {
      return;  // gone meanwhile
    }
    ++stats.objects;
    if (successor > 0) {
      ++stats.successors;
    }
    const auto size = static_cast<std::uint64_t>((*st)->st_size);
    const std::uint64_t guests = (*st)->st_nlink > 0 ? (*st)->st_nlink - 1 : 0;
    stats.links += guests;
    stats.bytes_stored += size;
    if (guests == 0) {
      ++stats.unreferenced;
      stats.unreferenced_bytes += size;
    } else {
      stats.bytes_saved += size * (guests - 1);
    }
    if (m_memory) {
      count_memory(id, successor, size, guests);
    }
  }

  StoreStats stats;

private:
  void
  count_memory(const ObjectId& id, unsigned successor, std::uint64_t size, std::uint64_t guests)
  {
    auto fd = m_store.open_object(id, successor);
    if (!fd) {
      return;
    }
    if (auto resident = resident_bytes(fd->get(), size, m_memory->method)) {
      m_memory->resident_bytes += *resident;
      if (guests > 1) {
        m_memory->saved_bytes += *resident * (guests - 1);
      }
    }
  }

  const Store& m_store;
  Reporter& m_reporter;
  MemoryStats* m_memory;
};

}  // namespace

StoreStats
store_stats(const Store& store, Reporter& reporter, MemoryStats* memory)
{
  StatsCounter counter(store, reporter, memory);
  for (unsigned f = 0; f < 256; ++f) {
    store.for_each_object(
      f, [&](const std::string&, const ObjectId& id, unsigned successor) { counter.object(id, successor); },
      [&](const std::string&) { ++counter.stats.stray; });
  }
  return counter.stats;
}

}  // namespace pkgunify
