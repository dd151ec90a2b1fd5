// SPDX-License-Identifier: GPL-2.0-or-later
// What every command of the pkgunify command is: a unit that registers its
// options, runs, and gives back a report; and the one place that prints
// reports (run_command).
#pragma once

#include "cli/common.hpp"

#include <CLI/CLI.hpp>

#include <exception>
#include <memory>
#include <ostream>

namespace pkgunify::cli {

enum class OutputFormat { as_text, as_json };

// What a command did: prints itself as text and as JSON. A command that
// fails halfway gives back what it did so far with the failure (fail()): its
// text shows the part done, its JSON is not printed, and the failure goes on
// to be reported as any other.
class Report
{
public:
  virtual ~Report() = default;
  // Null: nothing is printed.
  [[nodiscard]] virtual json to_json() const = 0;
  virtual void print_text(std::ostream& out) const = 0;
  [[nodiscard]] virtual int exit_status() const = 0;

  void
  fail(std::exception_ptr failure)
  {
    m_failure = std::move(failure);
  }
  [[nodiscard]] const std::exception_ptr&
  failure() const
  {
    return m_failure;
  }

private:
  std::exception_ptr m_failure;
};

// A report that prints nothing, as text or JSON.
class SilentReport final : public Report
{
public:
  explicit SilentReport(int status) : m_status(status) {}
  [[nodiscard]] json
  to_json() const override
  {
    return nullptr;
  }
  void
  print_text(std::ostream& /*out*/) const override
  {}
  [[nodiscard]] int
  exit_status() const override
  {
    return m_status;
  }

private:
  int m_status;
};

class Command
{
public:
  virtual ~Command() = default;
  // Adds the command (a subcommand of `app`) and its options.
  virtual void add_to(CLI::App& app) = 0;
  // After parsing: whether the command line names this command.
  [[nodiscard]] virtual bool
  chosen() const
  {
    return m_cmd && m_cmd->parsed();
  }
  // Runs it. Throws ConfigError (exit status 2), and other exceptions for
  // failures that stop it (1).
  virtual std::unique_ptr<Report> run() = 0;
  // How its report is printed: --json or text.
  [[nodiscard]] OutputFormat
  format() const
  {
    return m_common.json ? OutputFormat::as_json : OutputFormat::as_text;
  }

protected:
  CommonOptions m_common;
  CLI::App* m_cmd = nullptr;  // the subcommand add_to made
};

// Prints `report` to `out` as `format` says (JSON through json_text);
// rethrows its failure, else returns its exit status.
int print_report(const Report& report, OutputFormat format, std::ostream& out);

// Runs `command` and prints its report to `out`; a failure is printed to
// standard error ("pkgunify: MESSAGE" for a ConfigError, "pkgunify: error:
// MESSAGE" otherwise). Returns the exit status.
int run_command(Command& command, std::ostream& out);

}  // namespace pkgunify::cli
