// SPDX-License-Identifier: GPL-2.0-or-later
#include "store/inode_set.hpp"

#include <algorithm>

namespace pkgunify {

namespace {

constexpr unsigned k_low_bits = 16;

}  // namespace

void
InodeSet::Builder::add(ino_t ino)
{
  const auto n = static_cast<std::uint64_t>(ino);
  m_groups[n >> k_low_bits].push_back(static_cast<std::uint16_t>(n));
}

InodeSet
InodeSet::Builder::finish()
{
  InodeSet set;
  set.m_high.reserve(m_groups.size());
  std::size_t total = 0;
  for (const auto& [high, lows] : m_groups) {
    set.m_high.push_back(high);
    total += lows.size();
  }
  std::sort(set.m_high.begin(), set.m_high.end());
  set.m_low.reserve(total);
  set.m_begin.reserve(set.m_high.size() + 1);
  // Group by group, each freed once copied: the peak stays near the size of
  // the builder.
  for (const std::uint64_t high : set.m_high) {
    auto node = m_groups.extract(high);
    std::vector<std::uint16_t>& lows = node.mapped();
    std::sort(lows.begin(), lows.end());
    lows.erase(std::unique(lows.begin(), lows.end()), lows.end());
    set.m_begin.push_back(static_cast<std::uint32_t>(set.m_low.size()));
    set.m_low.insert(set.m_low.end(), lows.begin(), lows.end());
  }
  set.m_begin.push_back(static_cast<std::uint32_t>(set.m_low.size()));
  set.m_low.shrink_to_fit();
  m_groups.clear();
  return set;
}

bool
InodeSet::contains(ino_t ino) const
{
  const auto n = static_cast<std::uint64_t>(ino);
  const auto it = std::lower_bound(m_high.begin(), m_high.end(), n >> k_low_bits);
  if (it == m_high.end() || *it != n >> k_low_bits) {
    return false;
  }
  const auto g = static_cast<std::size_t>(it - m_high.begin());
  const auto first = m_low.begin() + m_begin[g];
  const auto last = m_low.begin() + m_begin[g + 1];
  return std::binary_search(first, last, static_cast<std::uint16_t>(n));
}

std::size_t
InodeSet::memory_bytes() const
{
  return m_high.capacity() * sizeof(std::uint64_t) + m_begin.capacity() * sizeof(std::uint32_t)
         + m_low.capacity() * sizeof(std::uint16_t);
}

}  // namespace pkgunify
