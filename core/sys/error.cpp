// SPDX-License-Identifier: GPL-2.0-or-later
#include "sys/error.hpp"

#include <cstring>

namespace pkgunify::sys {

Error
sys_error(std::string_view op, std::string_view subject, int code)
{
  std::string msg(op);
  if (!subject.empty()) {
    msg += ' ';
    msg += subject;
  }
  msg += ": ";
  msg += std::strerror(code);
  return Error{code, std::move(msg)};
}

}  // namespace pkgunify::sys
