// SPDX-License-Identifier: GPL-2.0-or-later
// pkgunify-guest: the client of the host's `pkgunify agent`, run inside a
// guest (pkgunify-guest(1)). It asks the agent, over the guest's socket, to
// release unified files before the guest's package manager replaces them, to
// unify what it installed, and for the guest's status. Linked statically:
// guests run other releases than the host, and it needs nothing but the
// kernel. The protocol is guest/agent_protocol.hpp; the dpkg run above a
// pre-invoke hook is found by guest/dpkg_caller.hpp, as on the host.
#include "guest/agent_protocol.hpp"
#include "guest/dpkg_caller.hpp"
#include "guest/hook_records.hpp"
#include "sys/exceptions.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef PKGUNIFY_VERSION
#define PKGUNIFY_VERSION "unknown"
#endif

namespace {

using namespace pkgunify;

// Exit status (pkgunify-guest(1), EXIT STATUS).
constexpr int k_exit_ok = 0;        // done, or queued
constexpr int k_exit_failed = 1;    // some files failed, the agent is busy or did not answer in time
constexpr int k_exit_usage = 2;     // a usage error, or the agent refused the request
constexpr int k_exit_no_agent = 3;  // no agent reachable at the socket

constexpr std::string_view k_usage =
  "Usage: pkgunify-guest [OPTION]... COMMAND [ARGUMENT]...\n"
  "Ask the host's pkgunify agent to act on this guest (pkgunify-guest(1)).\n"
  "\n"
  "Commands:\n"
  "  release [--hook] PATH...      release unified files before they are replaced\n"
  "  release-packages [--hook] NAME|FILE.deb|FILE.rpm...\n"
  "                                release the files of installed packages (those\n"
  "                                the packages in FILE replace)\n"
  "  dpkg-pre [--hook]             dpkg's pre-invoke hook: release what the dpkg run\n"
  "                                above will replace or remove\n"
  "  unify [--wait]                unify the files of the hook records on standard\n"
  "                                input (\"F/path\", \"C/path\", each ended by a NUL)\n"
  "  sync [--wait] [--hook] [--db dpkg|rpm]\n"
  "                                unify the packages that changed since the last sync\n"
  "  status                        the guest's status, as the agent sees it\n"
  "\n"
  "Options:\n"
  "  --socket PATH      the agent's socket (default $PKGUNIFY_AGENT_SOCKET, else\n"
  "                     /run/pkgunify/agent.sock)\n"
  "  --timeout SECONDS  wait at most this long for each answer (default 600 for\n"
  "                     the release commands, 60 for status, 30 for unify and sync,\n"
  "                     3600 with --wait)\n"
  "  --wait             unify, sync: answer when done, not when queued\n"
  "  --db dpkg|rpm      sync: the package database (default: what the guest has)\n"
  "  --hook             run as a package manager's hook: always exit 0, one line\n"
  "                     on standard error when no agent is reachable; nothing at all\n"
  "                     when PKGUNIFY_HOOKS=off\n"
  "  --quiet            print no counts\n"
  "  --help             this text\n"
  "  --version          the version\n"
  "\n"
  "Exit status: 0 done or queued, 1 some files failed or the agent is busy,\n"
  "2 usage error or the agent refused the request, 3 no agent reachable;\n"
  "with --hook always 0.\n";

struct Options
{
  std::string command;
  std::vector<std::string> args;
  std::string socket;
  std::optional<long> timeout;  // seconds
  std::string db;
  bool hook = false;
  bool wait = false;
  bool quiet = false;
  bool help = false;
  bool version = false;
};

class UsageError
{
public:
  explicit UsageError(std::string message) : m_message(std::move(message)) {}
  [[nodiscard]] const std::string&
  message() const
  {
    return m_message;
  }

private:
  std::string m_message;
};

void
say(std::FILE* to, std::string_view line)
{
  std::fprintf(to, "pkgunify-guest: %.*s\n", static_cast<int>(line.size()), line.data());
}

long
parse_seconds(std::string_view value)
{
  long n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc{} || end != value.data() + value.size() || n <= 0 || n > 86400 * 7) {
    throw UsageError("--timeout takes a number of seconds from 1 to 604800, not \"" + std::string(value) + "\"");
  }
  return n;
}

// An option's value: "--name=VALUE" or "--name VALUE".
std::string
option_value(std::string_view arg, std::string_view name, int& i, int argc, char** argv)
{
  if (arg.size() > name.size()) {
    return std::string(arg.substr(name.size() + 1));
  }
  if (i + 1 >= argc) {
    throw UsageError(std::string(name) + " needs a value");
  }
  return argv[++i];
}

// Sets the option `arg` names; false when it is none.
bool
apply_option(Options& o, std::string_view arg, int& i, int argc, char** argv)
{
  auto is = [&](std::string_view name) { return arg == name || (arg.starts_with(name) && arg[name.size()] == '='); };
  if (arg == "--hook") {
    o.hook = true;
  } else if (arg == "--wait") {
    o.wait = true;
  } else if (arg == "--quiet" || arg == "-q") {
    o.quiet = true;
  } else if (arg == "--help" || arg == "-h") {
    o.help = true;
  } else if (arg == "--version") {
    o.version = true;
  } else if (is("--socket")) {
    o.socket = option_value(arg, "--socket", i, argc, argv);
    if (o.socket.empty()) {
      throw UsageError("--socket needs a path");
    }
  } else if (is("--timeout")) {
    o.timeout = parse_seconds(option_value(arg, "--timeout", i, argc, argv));
  } else if (is("--db")) {
    o.db = option_value(arg, "--db", i, argc, argv);
    if (o.db != "dpkg" && o.db != "rpm") {
      throw UsageError("--db takes dpkg or rpm, not \"" + o.db + "\"");
    }
  } else {
    return false;
  }
  return true;
}

// Which options each command takes, and whether it takes arguments.
void
check_command(const Options& o)
{
  const std::string_view c = o.command;
  const bool release_like = c == "release" || c == "release-packages" || c == "dpkg-pre";
  if (!release_like && c != "unify" && c != "sync" && c != "status") {
    throw UsageError("no command \"" + o.command + "\" (release, release-packages, dpkg-pre, unify, sync, status)");
  }
  if (o.hook && !release_like && c != "sync") {
    throw UsageError(o.command + " takes no --hook");
  }
  if (o.wait && c != "unify" && c != "sync") {
    throw UsageError(o.command + " takes no --wait");
  }
  if (!o.db.empty() && c != "sync") {
    throw UsageError(o.command + " takes no --db");
  }
  const bool wants_args = c == "release" || c == "release-packages";
  if (wants_args && o.args.empty()) {
    throw UsageError(o.command + " needs at least one " + (c == "release" ? "PATH" : "package name or file"));
  }
  if (!wants_args && !o.args.empty()) {
    throw UsageError(o.command + " takes no arguments (\"" + o.args.front() + "\")");
  }
}

// Options anywhere before "--"; the first other word is the command.
Options
parse_args(int argc, char** argv, bool& hook_seen)
{
  Options o;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
      if (!apply_option(o, arg, i, argc, argv)) {
        throw UsageError("unknown option " + std::string(arg));
      }
      hook_seen = hook_seen || o.hook;
    } else if (o.command.empty()) {
      o.command = arg;
    } else {
      if (arg.empty()) {
        throw UsageError("an empty argument");
      }
      o.args.emplace_back(arg);
    }
  }
  if (o.help || o.version) {
    return o;
  }
  if (o.command.empty()) {
    throw UsageError("no command given");
  }
  check_command(o);
  return o;
}

// `path` made absolute from the working directory (not resolved: the agent
// resolves it inside the guest).
std::string
absolute(const std::string& path)
{
  if (path.starts_with('/')) {
    return path;
  }
  std::string cwd(4096, '\0');
  if (::getcwd(cwd.data(), cwd.size()) == nullptr) {
    throw UsageError("cannot make " + path + " absolute: getcwd: " + std::strerror(errno));
  }
  cwd.resize(std::strlen(cwd.c_str()));
  return cwd == "/" ? "/" + path : cwd + "/" + path;
}

std::string
read_stdin()
{
  std::string data;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (n == 0) {
      return data;
    }
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw UsageError(std::string("read standard input: ") + std::strerror(errno));
    }
    data.append(buf, static_cast<std::size_t>(n));
  }
}

// The hook records on standard input, checked by the one parser of them
// and sent as they came.
std::vector<std::string>
unify_records()
{
  const std::string input = read_stdin();
  try {
    (void)parse_hook_records(input, "standard input");
  } catch (const ConfigError& e) {
    throw UsageError(e.what());
  }
  std::vector<std::string> records;
  for (std::size_t start = 0; start < input.size();) {
    const auto nul = input.find('\0', start);
    records.emplace_back(input, start, nul - start);
    start = nul + 1;
  }
  return records;
}

// A dpkg-release request for `caller`. Too long for one request (rare: apt
// hands long lists to dpkg -R), it is split so that each part repeats
// dpkg's name and every option before its arguments: how the host reads an
// argument (a .deb to install, a package to remove, a directory for -R)
// depends on those options alone.
std::vector<agent::Request>
dpkg_release_requests(const DpkgCaller& caller)
{
  agent::Request whole;
  whole.verb = agent::Verb::dpkg_release;
  whole.cwd = caller.cwd;
  whole.args = caller.argv;
  if (agent::chunk(whole).size() == 1) {
    return {whole};
  }
  agent::Request head = whole;
  head.args = {caller.argv.front()};
  std::vector<agent::Request> out{head};
  std::vector<std::string> options;
  std::size_t size = agent::encode(head).size();
  for (std::size_t i = 1; i < caller.argv.size(); ++i) {
    const std::string& a = caller.argv[i];
    const bool full =
      size + a.size() + 1 > agent::k_max_request - 4096 || out.back().args.size() + 16 > agent::k_max_fields;
    if (full && out.back().args.size() > 1 + options.size()) {
      out.push_back(head);
      out.back().args.insert(out.back().args.end(), options.begin(), options.end());
      size = agent::encode(out.back()).size();
    }
    out.back().args.push_back(a);
    size += a.size() + 1;
    if (a.starts_with('-')) {
      options.push_back(a);
    }
  }
  return out;
}

struct Run
{
  std::vector<agent::Request> requests;
  long timeout = 30;      // seconds
  std::string manager;    // in hook messages: what goes on without pkgunify
  bool skip = false;      // nothing to send (a hook with nothing to do)
  std::string skip_line;  // then said on standard error, when not empty
};

Run
plan(const Options& o)
{
  Run run;
  agent::Request r;
  r.wait = o.wait;
  r.db = o.db;
  run.timeout = o.wait ? 3600 : 30;
  run.manager = o.db == "rpm" ? "rpm" : o.db == "dpkg" ? "dpkg" : "the package manager";
  if (o.command == "release" || o.command == "release-packages") {
    r.verb = o.command == "release" ? agent::Verb::release : agent::Verb::release_packages;
    for (const auto& a : o.args) {
      const bool file = r.verb == agent::Verb::release || a.find('/') != std::string::npos || a.ends_with(".deb")
                        || a.ends_with(".rpm");
      r.args.push_back(file ? absolute(a) : a);
    }
    run.timeout = 600;
  } else if (o.command == "dpkg-pre") {
    run.timeout = 600;
    run.manager = "dpkg";
    const auto caller = find_dpkg_caller();
    if (!caller) {
      if (!o.hook) {
        throw UsageError("dpkg-pre: no dpkg process above this one (it is dpkg's pre-invoke hook)");
      }
      run.skip = true;
      run.skip_line = "found no dpkg process above this one (is /proc mounted?): dpkg goes on without pkgunify";
      return run;
    }
    run.requests = dpkg_release_requests(*caller);
  } else if (o.command == "unify") {
    r.verb = agent::Verb::unify;
    r.args = unify_records();
  } else if (o.command == "sync") {
    r.verb = agent::Verb::sync;
  } else {
    r.verb = agent::Verb::status;
    run.timeout = 60;
  }
  if (run.requests.empty()) {
    run.requests.push_back(std::move(r));
  }
  if (o.timeout) {
    run.timeout = *o.timeout;
  }
  return run;
}

// Prints an answer as pkgunify-guest(1) says and gives its exit status.
int
report(const agent::Answer& a, const Options& o, const std::string& socket, const std::string& manager)
{
  for (const auto& f : a.failures) {
    say(stderr, f);
  }
  for (const auto& e : a.errors) {
    say(stderr, e);
  }
  for (const auto& t : a.text) {
    std::printf("%s\n", t.c_str());
  }
  switch (a.outcome) {
  case agent::Outcome::busy:
    say(stderr, "the pkgunify agent at " + socket + " is busy with this guest; try again later"
                  + (o.hook ? ": " + manager + " goes on without pkgunify" : ""));
    return k_exit_failed;
  case agent::Outcome::error:
    if (a.errors.empty()) {
      say(stderr, "the pkgunify agent at " + socket + " refused the request");
    }
    return k_exit_usage;
  default:
    break;
  }
  if (!o.quiet && !o.hook) {
    std::string line;
    for (const auto& [name, n] : a.counts) {
      line += (line.empty() ? "" : ", ") + name + " " + std::to_string(n);
    }
    if (line.empty() && a.outcome == agent::Outcome::queued) {
      line = "queued";
    }
    if (!line.empty()) {
      say(stdout, line);
    }
  }
  return a.outcome == agent::Outcome::failed ? k_exit_failed : k_exit_ok;
}

// A call that got no answer: the one line a hook says, and the status.
int
unreachable(const sys::Error& e, const Options& o, const std::string& socket, const std::string& manager, long timeout)
{
  const std::string tail = o.hook ? ": " + manager + " goes on without pkgunify" : "";
  if (e.code == ETIMEDOUT) {
    say(stderr, "the pkgunify agent at " + socket + " did not answer within " + std::to_string(timeout) + " s" + tail);
    return k_exit_failed;
  }
  if (e.code == EAGAIN) {
    say(stderr, "the pkgunify agent at " + socket + " is busy (its queue is full); try again later" + tail);
    return k_exit_failed;
  }
  const std::string why = e.code != 0 ? std::strerror(e.code) : e.message;
  say(stderr, "no pkgunify agent at " + socket + " (" + why + ")" + tail);
  return k_exit_no_agent;
}

int
run_command(const Options& o)
{
  const Run run = plan(o);
  if (run.skip) {
    if (!run.skip_line.empty()) {
      say(stderr, run.skip_line);
    }
    return k_exit_ok;
  }
  const std::string socket = o.socket.empty() ? agent::client_socket_path() : o.socket;
  const auto timeout = std::chrono::seconds(run.timeout);
  int status = k_exit_ok;
  for (const auto& request : run.requests) {
    auto answer = agent::call(socket, request, timeout);
    const int s = answer ? report(*answer, o, socket, run.manager)
                         : unreachable(answer.error(), o, socket, run.manager, run.timeout);
    status = std::max(status, s);  // the worst: 3 no agent, 2 refused, 1 failed or busy, 0
    if (!answer) {
      break;  // one line, not one per part
    }
  }
  return status;
}

bool
hooks_off()
{
  const char* v = std::getenv("PKGUNIFY_HOOKS");
  return v != nullptr && std::string_view(v) == "off";
}

}  // namespace

int
main(int argc, char** argv)
{
  bool hook = false;
  try {
    const Options o = parse_args(argc, argv, hook);
    if (o.help) {
      std::fputs(k_usage.data(), stdout);
      return k_exit_ok;
    }
    if (o.version) {
      std::puts("pkgunify-guest " PKGUNIFY_VERSION);
      return k_exit_ok;
    }
    if (o.hook && hooks_off()) {
      return k_exit_ok;  // PKGUNIFY_HOOKS=off: this run is left alone, as without pkgunify
    }
    const int status = run_command(o);
    return o.hook ? k_exit_ok : status;
  } catch (const UsageError& e) {
    if (hook && hooks_off()) {
      return k_exit_ok;
    }
    say(stderr, e.message());
    if (!hook) {
      std::fputs("Try 'pkgunify-guest --help'.\n", stderr);
    }
    return hook ? k_exit_ok : k_exit_usage;
  } catch (const std::exception& e) {
    say(stderr, e.what());
    return hook ? k_exit_ok : k_exit_failed;
  }
}
