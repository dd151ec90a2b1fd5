// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/hook_records.hpp"
#include "sys/exceptions.hpp"

#include <gtest/gtest.h>

using namespace pkgunify;
using namespace std::string_literals;

namespace {

std::string
error_of(std::string_view input)
{
  try {
    (void)parse_hook_records(input, "standard input");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(GuestHookRecords, WhatIsEncodedParsesBack)
{
  std::string input;
  append_hook_record(input, HookRecordKind::file, "/usr/bin/tool");
  append_hook_record(input, HookRecordKind::config, "/etc/tool.conf");
  append_hook_record(input, HookRecordKind::file, "/usr/lib/libtool.so");
  append_hook_record(input, HookRecordKind::file, "/usr/bin/tool");
  EXPECT_EQ(input, "F/usr/bin/tool\0C/etc/tool.conf\0F/usr/lib/libtool.so\0F/usr/bin/tool\0"s);
  const HookRecords r = parse_hook_records(input, "standard input");
  EXPECT_EQ(r.files, (std::vector<std::string>{"/usr/bin/tool", "/usr/lib/libtool.so", "/usr/bin/tool"}));
  EXPECT_EQ(r.config, (std::unordered_set<std::string>{"/etc/tool.conf"}));
}

TEST(GuestHookRecords, NoInputIsNoRecords)
{
  const HookRecords r = parse_hook_records("", "standard input");
  EXPECT_TRUE(r.files.empty());
  EXPECT_TRUE(r.config.empty());
}

TEST(GuestHookRecords, PathsWithOddBytesPassUnchanged)
{
  const std::string odd = "/usr/share/a b\n\tc\xff\xfe\x01 F/C/\\";
  std::string input;
  append_hook_record(input, HookRecordKind::file, odd);
  append_hook_record(input, HookRecordKind::config, odd + "F");
  const HookRecords r = parse_hook_records(input, "standard input");
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0], odd);
  EXPECT_EQ(r.config, (std::unordered_set<std::string>{odd + "F"}));
}

TEST(GuestHookRecords, ABadRecordIsAConfigErrorNamingIt)
{
  const std::string bad_kind = "standard input: record 2 is not \"F/path\" or \"C/path\"";
  EXPECT_EQ(error_of("F/a\0X/b\0"s), bad_kind);
  EXPECT_EQ(error_of("F/a\0Frelative\0"s), bad_kind);
  EXPECT_EQ(error_of("F/a\0F\0"s), bad_kind);
  EXPECT_EQ(error_of("F/a\0\0"s), bad_kind);
  EXPECT_EQ(error_of("F/a\0F/b"s), "standard input: record 2 is not NUL-terminated");
  EXPECT_EQ(error_of("F/a"), "standard input: record 1 is not NUL-terminated");
}

TEST(GuestHookRecords, TheSourceNamesTheInput)
{
  try {
    (void)parse_hook_records("Z/x\0"s, "records.bin");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "records.bin: record 1 is not \"F/path\" or \"C/path\"");
  }
}
