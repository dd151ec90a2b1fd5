// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli/command.hpp"

#include "sys/exceptions.hpp"

#include <iostream>

namespace pkgunify::cli {

int
print_report(const Report& report, OutputFormat format, std::ostream& out)
{
  if (format == OutputFormat::as_text) {
    report.print_text(out);
  } else if (!report.failure()) {
    if (const json j = report.to_json(); !j.is_null()) {
      out << json_text(j) << '\n';
    }
  }
  if (report.failure()) {
    std::rethrow_exception(report.failure());
  }
  return report.exit_status();
}

int
run_command(Command& command, std::ostream& out)
{
  try {
    const auto report = command.run();
    return print_report(*report, command.format(), out);
  } catch (const ConfigError& e) {
    std::cerr << "pkgunify: " << e.what() << '\n';
    return k_exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "pkgunify: error: " << e.what() << '\n';
    return k_exit_failures;
  }
}

}  // namespace pkgunify::cli
