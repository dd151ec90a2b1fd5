// SPDX-License-Identifier: GPL-2.0-or-later
// Domain-layer exceptions. The util layer returns Result<T>; code above it
// throws these, and the CLI maps them to exit codes.
#pragma once

#include <stdexcept>
#include <string>

namespace pkgunify {

// A recoverable failure of one operation (one file, one object).
class Error : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};

// Bad configuration or usage: a policy file that does not parse, a store on
// the wrong filesystem. The CLI exits with status 2.
class ConfigError : public Error
{
public:
  using Error::Error;
};

}  // namespace pkgunify
