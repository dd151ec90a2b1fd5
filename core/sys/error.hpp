// SPDX-License-Identifier: GPL-2.0-or-later
// Error values for the util layer: functions here never throw, they return
// Result<T>. The domain layer turns errors into exceptions where it must.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace pkgunify::sys {

struct Error
{
  int code = 0;         // errno value, 0 when the error is not a system error
  std::string message;  // complete, human-readable: names the file involved

  [[nodiscard]] const std::string&
  what() const
  {
    return message;
  }
};

template<typename T>
using Result = std::expected<T, Error>;

// An error from errno (or an explicit code) with a message naming what failed,
// e.g. sys_error("open", path) -> "open /x/y: No such file or directory".
Error sys_error(std::string_view op, std::string_view subject, int code = errno);

inline std::unexpected<Error>
fail(std::string message, int code = 0)
{
  return std::unexpected(Error{code, std::move(message)});
}

inline std::unexpected<Error>
fail_sys(std::string_view op, std::string_view subject, int code = errno)
{
  return std::unexpected(sys_error(op, subject, code));
}

}  // namespace pkgunify::sys
