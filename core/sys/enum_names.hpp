// SPDX-License-Identifier: GPL-2.0-or-later
// One table per enum: the names an enum's values have in policies, on the
// command line and in JSON, and the lookups both ways. Every spelling of a
// value comes from its table.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pkgunify::sys {

template<typename E, std::size_t N>
class EnumNames
{
public:
  constexpr explicit EnumNames(std::array<std::pair<E, std::string_view>, N> table) : m_table(table) {}

  [[nodiscard]] constexpr std::string_view
  name(E value) const
  {
    for (const auto& [v, n] : m_table) {
      if (v == value) {
        return n;
      }
    }
    return "?";
  }

  [[nodiscard]] constexpr std::optional<E>
  parse(std::string_view name) const
  {
    for (const auto& [v, n] : m_table) {
      if (n == name) {
        return v;
      }
    }
    return std::nullopt;
  }

  // Every name, in table order (for option checks and messages).
  [[nodiscard]] std::vector<std::string>
  names() const
  {
    std::vector<std::string> out;
    for (const auto& entry : m_table) {
      out.emplace_back(entry.second);
    }
    return out;
  }

  // "'a', 'b' or 'c'", for "expected ..." messages; `keep` selects values.
  template<typename Pred>
  [[nodiscard]] std::string
  quoted_list(Pred keep) const
  {
    std::vector<std::string_view> kept;
    for (const auto& [v, n] : m_table) {
      if (keep(v)) {
        kept.push_back(n);
      }
    }
    std::string out;
    for (std::size_t i = 0; i < kept.size(); ++i) {
      if (i > 0) {
        out += i + 1 == kept.size() ? " or " : ", ";
      }
      out += '\'';
      out += kept[i];
      out += '\'';
    }
    return out;
  }

  [[nodiscard]] std::string
  quoted_list() const
  {
    return quoted_list([](E) { return true; });
  }

private:
  std::array<std::pair<E, std::string_view>, N> m_table;
};

}  // namespace pkgunify::sys
