// pkgunify wait: waits until the background unification of a root (the rpm
// plugin's worker) is done.
#include "cli/commands/commands.hpp"
#include "guest/background.hpp"

namespace pkgunify::cli {

namespace {

class WaitCommand final : public Command
{
public:
  void
  add_to(CLI::App& app) override
  {
    m_cmd = app.add_subcommand("wait", "Wait until the background unification of a root (rpm plugin) is done");
    m_cmd->add_option("--root", m_root, "Root (default: /)");
  }

  std::unique_ptr<Report>
  run() override
  {
    make_absolute(m_root);
    wait_for_background(m_root.empty() ? "/" : m_root);
    return std::make_unique<SilentReport>(k_exit_ok);
  }

private:
  std::string m_root;
};

}  // namespace

std::unique_ptr<Command>
make_wait_command()
{
  return std::make_unique<WaitCommand>();
}

}  // namespace pkgunify::cli
