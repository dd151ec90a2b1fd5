// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/enum_names.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sys = pkgunify::sys;

namespace {

enum class Colour { red, green, blue, unnamed };

constexpr sys::EnumNames<Colour, 3> k_colour_names{{{
  {Colour::red, "red"},
  {Colour::green, "green"},
  {Colour::blue, "blue"},
}}};

enum class Single { only };

constexpr sys::EnumNames<Single, 1> k_single_names{{{{Single::only, "only"}}}};

}  // namespace

TEST(EnumNames, NameOfEveryValueAndOfOneWithout)
{
  EXPECT_EQ(k_colour_names.name(Colour::red), "red");
  EXPECT_EQ(k_colour_names.name(Colour::green), "green");
  EXPECT_EQ(k_colour_names.name(Colour::blue), "blue");
  EXPECT_EQ(k_colour_names.name(Colour::unnamed), "?");
}

TEST(EnumNames, ParseIsExactAndCaseSensitive)
{
  EXPECT_EQ(k_colour_names.parse("red"), Colour::red);
  EXPECT_EQ(k_colour_names.parse("blue"), Colour::blue);
  EXPECT_EQ(k_colour_names.parse("Red"), std::nullopt);
  EXPECT_EQ(k_colour_names.parse("re"), std::nullopt);
  EXPECT_EQ(k_colour_names.parse("red "), std::nullopt);
  EXPECT_EQ(k_colour_names.parse(""), std::nullopt);
  EXPECT_EQ(k_colour_names.parse("?"), std::nullopt);
}

TEST(EnumNames, EveryNameRoundTrips)
{
  for (const std::string& n : k_colour_names.names()) {
    const auto value = k_colour_names.parse(n);
    ASSERT_TRUE(value) << n;
    EXPECT_EQ(k_colour_names.name(*value), n);
  }
}

TEST(EnumNames, NamesInTableOrder)
{
  EXPECT_EQ(k_colour_names.names(), (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(k_single_names.names(), (std::vector<std::string>{"only"}));
}

TEST(EnumNames, QuotedList)
{
  EXPECT_EQ(k_colour_names.quoted_list(), "'red', 'green' or 'blue'");
  EXPECT_EQ(k_single_names.quoted_list(), "'only'");
  EXPECT_EQ(k_colour_names.quoted_list([](Colour c) { return c != Colour::green; }), "'red' or 'blue'");
  EXPECT_EQ(k_colour_names.quoted_list([](Colour c) { return c == Colour::blue; }), "'blue'");
  EXPECT_EQ(k_colour_names.quoted_list([](Colour) { return false; }), "");
}

TEST(EnumNames, LookupsWorkAtCompileTime)
{
  static_assert(k_colour_names.name(Colour::green) == "green");
  static_assert(k_colour_names.parse("blue") == Colour::blue);
  static_assert(!k_colour_names.parse("purple").has_value());
  SUCCEED();
}
