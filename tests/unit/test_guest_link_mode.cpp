// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/link_mode.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using namespace pkgunify;

namespace {

constexpr LinkMode k_every_link_mode[] = {LinkMode::auto_select, LinkMode::iunlink, LinkMode::immutable,
                                          LinkMode::reflink, LinkMode::hardlink};
constexpr CreateMode k_every_create_mode[] = {CreateMode::copy, CreateMode::adopt};

}  // namespace

TEST(LinkModeNames, EveryLinkModeRoundTrips)
{
  for (const LinkMode mode : k_every_link_mode) {
    const std::string_view name = to_string(mode);
    EXPECT_NE(name, "?");
    EXPECT_EQ(parse_link_mode(name), mode) << name;
    EXPECT_EQ(k_link_mode_names.parse(name), mode) << name;
  }
  EXPECT_EQ(k_link_mode_names.names().size(), std::size(k_every_link_mode));
}

TEST(LinkModeNames, TheNamesPoliciesAndTheCommandLineUse)
{
  EXPECT_EQ(to_string(LinkMode::auto_select), "auto");
  EXPECT_EQ(to_string(LinkMode::iunlink), "iunlink");
  EXPECT_EQ(to_string(LinkMode::immutable), "immutable");
  EXPECT_EQ(to_string(LinkMode::reflink), "reflink");
  EXPECT_EQ(to_string(LinkMode::hardlink), "hardlink");
  EXPECT_EQ(k_link_mode_names.names(),
            (std::vector<std::string>{"auto", "iunlink", "immutable", "reflink", "hardlink"}));
  EXPECT_EQ(k_link_mode_names.quoted_list(), "'auto', 'iunlink', 'immutable', 'reflink' or 'hardlink'");
}

TEST(LinkModeNames, UnknownNamesDoNotParse)
{
  for (const char* bad : {"", "Auto", "auto_select", "hard-link", "reflink ", "copy"}) {
    EXPECT_EQ(parse_link_mode(bad), std::nullopt) << bad;
  }
}

TEST(CreateModeNames, EveryCreateModeRoundTrips)
{
  for (const CreateMode mode : k_every_create_mode) {
    const std::string_view name = to_string(mode);
    EXPECT_NE(name, "?");
    EXPECT_EQ(k_create_mode_names.parse(name), mode) << name;
  }
  EXPECT_EQ(k_create_mode_names.names(), (std::vector<std::string>{"copy", "adopt"}));
  EXPECT_EQ(to_string(CreateMode::copy), "copy");
  EXPECT_EQ(to_string(CreateMode::adopt), "adopt");
  EXPECT_EQ(k_create_mode_names.parse("hardlink"), std::nullopt);
}
