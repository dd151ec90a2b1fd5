// SPDX-License-Identifier: GPL-2.0-or-later
// rpm transaction plugin: hands the non-config files each transaction
// installed to the pkgunify command, and releases unified files that rpm is
// about to replace or erase. A thin shim: no unification logic of its own.
//
// Where the hooks run (rpm 4.18, `rpm --root R`): init, tsm_pre and tsm_post
// on the host; psm_* and fsm_* chrooted into R. So files are collected with
// their paths inside R and handed over at tsm_post, on the host side, after
// the rpmdb is updated: `pkgunify unify-files` runs in a detached worker
// once the transaction set is freed (or, with option `sync`, inside the
// transaction). The plugin links only the light parts of the core (release,
// starting the worker): rpm loads no policy parser and no hash library for
// it. No exception crosses into rpm, and no hook changes a transaction's
// result: failures are logged through rpmlog.
//
// Guest mode (the plugin loaded as "pkgunify_guest", as the pkgunify-guest
// package installs it inside a guest, docs/guests.md): rpm runs inside the
// guest, without the capability to lift protection, so the host's agent
// does the work: before the transaction, the protected files it will
// replace or erase are released through the agent's socket in one request
// (fsm_file_pre catches any it missed), and tsm_post hands the installed
// files to the agent. Without a reachable agent: one line, and rpm goes on
// as it would without pkgunify.
#include "guest/agent_protocol.hpp"
#include "guest/background.hpp"
#include "guest/hook_records.hpp"
#include "guest/runtime.hpp"
#include "guest/split.hpp"

#include <rpm/rpmfi.h>
#include <rpm/rpmfiles.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmte.h>
#include <rpm/rpmts.h>

#ifdef PKGUNIFY_HAVE_RPMPLUGIN_H
#include <rpm/rpmplugin.h>
#else
#include "rpmplugin_compat.h"
#endif

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <chrono>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef PKGUNIFY_PROGRAM
#define PKGUNIFY_PROGRAM "/usr/bin/pkgunify"
#endif

namespace {

// A message of the plugin, or a line the pkgunify command printed (which
// names itself already).
void
log_line(std::string_view message)
{
  if (message.starts_with("pkgunify: ")) {
    message.remove_prefix(10);
  }
  rpmlog(RPMLOG_WARNING, "pkgunify: %.*s\n", static_cast<int>(message.size()), message.data());
}

class RpmLogReporter : public pkgunify::Reporter
{
public:
  void
  error(std::string_view message) override
  {
    log_line(message);
  }
  void
  warning(std::string_view message) override
  {
    log_line(message);
  }
};

struct Element
{
  std::string records;     // for `pkgunify unify-files` (guest/hook_records.hpp)
  bool has_files = false;  // an "F" record: something to unify
  bool installed = false;
};

struct State
{
  std::string program = PKGUNIFY_PROGRAM;     // option "program=FILE": the pkgunify command
  std::string policy_file;                    // the first word of the plugin's options that is no keyword
  bool synchronous = false;                   // option "sync": unify inside the transaction
  bool host = false;                          // option "host": also unify transactions on the root "/"
  std::string log = "/var/log/pkgunify.log";  // option "log=FILE": the worker's messages
  bool guest = false;                         // guest mode: through the host's agent
  std::string socket;                         // guest mode: the agent's socket
  bool agent_gone = false;                    // guest mode: said once per transaction
  bool skip = false;                          // test transaction
  bool collect = false;                       // unify what this transaction installs
  std::string root;
  rpmte current = nullptr;
  std::map<rpmte, Element> elements;
  // Write ends of the gates of started workers: each starts once its gate
  // is closed (when this transaction set is freed, or rpm exits).
  std::vector<pkgunify::sys::Fd> gates;
};

State*
state_of(rpmPlugin plugin)
{
  return static_cast<State*>(rpmPluginGetData(plugin));
}

// The plugin's options (%__transaction_pkgunify after the path): words.
void
parse_options(State& state, const char* opts)
{
  std::istringstream words(opts);
  for (std::string w; words >> w;) {
    if (w == "sync") {
      state.synchronous = true;
    } else if (w == "host") {
      state.host = true;
    } else if (w.starts_with("log=")) {
      state.log = w.substr(4);
    } else if (w.starts_with("program=")) {
      state.program = w.substr(8);
    } else if (state.policy_file.empty()) {
      state.policy_file = w;
    }
  }
}

// PKGUNIFY_HOOKS=off in the environment: the plugin stays out of this rpm
// run altogether, as if it were not installed (pkgunify(8), ENVIRONMENT).
bool
hooks_off()
{
  const char* v = std::getenv("PKGUNIFY_HOOKS");
  return v && std::string_view(v) == "off";
}

rpmRC
init(rpmPlugin plugin, rpmts /*ts*/) noexcept
try {
  if (hooks_off()) {
    return RPMRC_NOTFOUND;  // rpm drops a plugin whose init says so, quietly
  }
  auto state = std::make_unique<State>();
  if (const char* opts = rpmPluginOpts(plugin)) {
    parse_options(*state, opts);
  }
  // The worker runs in "/": relative paths are taken from rpm's directory.
  for (std::string* p : {&state->policy_file, &state->log, &state->program}) {
    char cwd[PATH_MAX];
    if (!p->empty() && p->front() != '/' && ::getcwd(cwd, sizeof(cwd))) {
      *p = std::string(cwd) + "/" + *p;
    }
  }
  // The runtime directory (locks, lift journal) is opened here, on the host:
  // the file hooks run chrooted into the guest, where it cannot be reached.
  RpmLogReporter reporter;
  if (pkgunify::prepare_runtime_dir()) {
    pkgunify::recover_lifted(reporter);
  }
  rpmPluginSetData(plugin, state.release());
  return RPMRC_OK;
} catch (...) {
  return RPMRC_NOTFOUND;  // drop the plugin quietly
}

rpmRC
init_guest(rpmPlugin plugin, rpmts /*ts*/) noexcept
try {
  if (hooks_off()) {
    return RPMRC_NOTFOUND;
  }
  auto state = std::make_unique<State>();
  state->guest = true;
  state->socket = pkgunify::agent::client_socket_path();
  rpmPluginSetData(plugin, state.release());
  return RPMRC_OK;
} catch (...) {
  return RPMRC_NOTFOUND;
}

void
cleanup(rpmPlugin plugin) noexcept
{
  delete state_of(plugin);  // closes the gates: the workers start
  rpmPluginSetData(plugin, nullptr);
}

// ---- guest mode ----------------------------------------------------------

// Sends `r` to the agent; says once per transaction that there is none.
void
ask_agent(State& s, const pkgunify::agent::Request& r, std::chrono::seconds timeout)
{
  if (s.agent_gone || r.args.empty()) {
    return;
  }
  auto a = pkgunify::agent::call(s.socket, r, timeout);
  if (!a) {
    const int code = a.error().code;
    if (code == ENOENT || code == ECONNREFUSED || code == EAGAIN || code == ENOTDIR || code == EACCES) {
      rpmlog(RPMLOG_WARNING, "pkgunify: no pkgunify agent at %s (%s): rpm goes on without pkgunify\n", s.socket.c_str(),
             std::strerror(code));
      s.agent_gone = true;
    } else {
      log_line("the agent at " + s.socket + ": " + a.error().message);
    }
    return;
  }
  for (const auto* lines : {&a->failures, &a->errors}) {
    for (const auto& l : *lines) {
      log_line(l);
    }
  }
}

// The regular files of the transaction's elements that are protected now:
// what rpm will replace (an element's new files) or erase (a removed one's).
std::vector<std::string>
protected_files_of(rpmts ts)
{
  std::vector<std::string> out;
  rpmtsi it = rpmtsiInit(ts);
  for (rpmte te; (te = rpmtsiNext(it, static_cast<rpmElementTypes>(0)));) {
    rpmfiles files = rpmteFiles(te);
    rpmfi fi = rpmfilesIter(files, RPMFI_ITER_FWD);
    while (fi && rpmfiNext(fi) >= 0) {
      const char* fn = rpmfiFN(fi);
      if (fn && S_ISREG(rpmfiFMode(fi)) && pkgunify::is_protected_file(fn)) {
        out.emplace_back(fn);
      }
    }
    rpmfiFree(fi);
    rpmfilesFree(files);
  }
  rpmtsiFree(it);
  return out;
}

rpmRC
tsm_pre_guest(State& s, rpmts ts)
{
  s.agent_gone = false;
  // rpm --root from inside a guest: a root the agent knows nothing of.
  s.collect = s.root == "/";
  if (s.collect && !s.skip) {
    pkgunify::agent::Request r;
    r.verb = pkgunify::agent::Verb::release;
    r.args = protected_files_of(ts);
    ask_agent(s, r, std::chrono::seconds(600));
  }
  return RPMRC_OK;
}

void
tsm_post_guest(State& s, const std::string& records)
{
  pkgunify::agent::Request r;
  r.verb = pkgunify::agent::Verb::unify;
  for (std::size_t start = 0, nul; (nul = records.find('\0', start)) != std::string::npos; start = nul + 1) {
    r.args.push_back(records.substr(start, nul - start));
  }
  ask_agent(s, r, std::chrono::seconds(30));
}

rpmRC
tsm_pre(rpmPlugin plugin, rpmts ts) noexcept
try {
  State* s = state_of(plugin);
  s->elements.clear();
  s->current = nullptr;
  s->skip = (rpmtsFlags(ts) & (RPMTRANS_FLAG_TEST | RPMTRANS_FLAG_JUSTDB)) != 0;
  const char* root = rpmtsRootDir(ts);
  s->root = root && *root ? root : "/";
  if (s->guest) {
    return tsm_pre_guest(*s, ts);
  }
  // The host's own transactions are left alone unless asked for: a host
  // runs guests, it is rarely one itself (protected files are released all
  // the same, should an admin have unified the host).
  s->collect = s->host || s->root.find_first_not_of('/') != std::string::npos;
  // A worker of an earlier transaction may still link this root's files: it
  // finishes before this transaction touches them (its gate opens first).
  s->gates.clear();
  if (!pkgunify::wait_for_background(s->root)) {
    rpmlog(RPMLOG_WARNING,
           "pkgunify: the unification of the last transaction on %s still runs after %lld s; going on\n",
           s->root.c_str(), static_cast<long long>(pkgunify::k_worker_wait.count()));
  }
  return RPMRC_OK;
} catch (...) {
  return RPMRC_OK;
}

rpmRC
psm_pre(rpmPlugin plugin, rpmte te) noexcept
{
  state_of(plugin)->current = te;
  return RPMRC_OK;
}

rpmRC
psm_post(rpmPlugin plugin, rpmte te, int res) noexcept
try {
  State* s = state_of(plugin);
  if (res == 0 && rpmteType(te) == TR_ADDED) {
    s->elements[te].installed = true;
  }
  s->current = nullptr;
  return RPMRC_OK;
} catch (...) {
  return RPMRC_OK;
}

// Before rpm writes over, changes or removes a file: a unified file that is
// immutable gets its private, writable copy first (one statx when there is
// nothing to do). rpmfiFN is the final name (path may be a temporary one).
rpmRC
fsm_file_pre(rpmPlugin plugin, rpmfi fi, const char* /*path*/, mode_t file_mode, rpmFsmOp op) noexcept
try {
  State* s = state_of(plugin);
  if (s->skip || !fi || !S_ISREG(file_mode)) {
    return RPMRC_OK;
  }
  const rpmFileAction action = static_cast<rpmFileAction>(XFO_ACTION(op));
  if (XFA_SKIPPING(action)) {
    return RPMRC_OK;
  }
  const char* fn = rpmfiFN(fi);
  if (!fn) {
    return RPMRC_OK;
  }
  if (s->guest) {
    if (s->collect && pkgunify::is_protected_file(fn)) {  // one the transaction's release missed
      pkgunify::agent::Request r;
      r.verb = pkgunify::agent::Verb::release;
      r.args = {fn};
      ask_agent(*s, r, std::chrono::seconds(600));
    }
    return RPMRC_OK;
  }
  RpmLogReporter reporter;
  pkgunify::release_if_protected(fn, pkgunify::DirResolution::follow, reporter);
  return RPMRC_OK;  // never fail the operation: rpm reports what it cannot do
} catch (...) {
  return RPMRC_OK;
}

// Collects the regular files the element created, config files apart.
rpmRC
fsm_file_post(rpmPlugin plugin, rpmfi fi, const char* path, mode_t file_mode, rpmFsmOp op, int res) noexcept
try {
  State* s = state_of(plugin);
  // rpm 4.18.0 passes fi == NULL and path == NULL for directories it makes.
  if (s->skip || !s->collect || !fi || !path || res != 0 || !s->current || !S_ISREG(file_mode)) {
    return RPMRC_OK;
  }
  const rpmFileAction action = static_cast<rpmFileAction>(XFO_ACTION(op));
  if (action != FA_CREATE && action != FA_TOUCH) {
    return RPMRC_OK;  // .rpmnew, .rpmsave, erase, skipped
  }
  const char* fn = rpmfiFN(fi);
  if (!fn || *fn != '/') {
    return RPMRC_OK;
  }
  Element& e = s->elements[s->current];
  const bool config = (rpmfiFFlags(fi) & RPMFILE_CONFIG) != 0;
  e.has_files = e.has_files || !config;
  pkgunify::append_hook_record(e.records, config ? pkgunify::HookRecordKind::config : pkgunify::HookRecordKind::file,
                               fn);
  return RPMRC_OK;
} catch (...) {
  return RPMRC_OK;
}

pkgunify::Command
command(const State& s, std::initializer_list<std::string> extra)
{
  pkgunify::Command c;
  c.argv = {s.program, "unify-files", "--root", s.root};
  if (s.host) {
    c.argv.emplace_back("--host");  // asked for: the root may be the host's "/"
  }
  if (!s.policy_file.empty()) {
    c.argv.insert(c.argv.end(), {"--policy", s.policy_file});
  }
  c.argv.insert(c.argv.end(), extra);
  return c;
}

rpmRC
tsm_post(rpmPlugin plugin, rpmts /*ts*/, int /*res*/) noexcept
try {
  State* s = state_of(plugin);
  if (s->skip) {
    return RPMRC_OK;
  }
  std::string records;
  bool any_file = false;
  for (const auto& [te, e] : s->elements) {
    if (e.installed) {
      records += e.records;
      any_file = any_file || e.has_files;
    }
  }
  s->elements.clear();
  if (!any_file) {
    return RPMRC_OK;
  }
  if (s->guest) {
    tsm_post_guest(*s, records);
    return RPMRC_OK;
  }
  // A bad policy or link mode is reported here, through rpm's log; a check
  // that passed is remembered until the policy, pkgunify or the boot
  // changes. The worker's own messages (store, files) go to its log file.
  if (!s->synchronous && !pkgunify::hook_config_checked(s->policy_file, s->program)) {
    if (pkgunify::run_command(command(*s, {"--check"}), log_line) != 0) {
      return RPMRC_OK;
    }
  }
  if (!s->synchronous) {
    auto worker = command(*s, {"--hook", "--log", s->log});
    worker.input = records;
    if (auto gate = pkgunify::start_in_background(worker, s->root)) {
      s->gates.push_back(std::move(gate));
      return RPMRC_OK;
    }
  }
  auto now = command(*s, {});
  now.input = std::move(records);
  pkgunify::run_command(now, log_line);
  return RPMRC_OK;
} catch (...) {
  return RPMRC_OK;
}

// The hooks of the plugin, with `init` as its start: host or guest mode.
constexpr rpmPluginHooks_s
hooks_with(plugin_init_func start)
{
  return {
    .init = start,
    .cleanup = cleanup,
    .tsm_pre = tsm_pre,
    .tsm_post = tsm_post,
    .psm_pre = psm_pre,
    .psm_post = psm_post,
    .scriptlet_pre = nullptr,
    .scriptlet_fork_post = nullptr,
    .scriptlet_post = nullptr,
    .fsm_file_pre = fsm_file_pre,
    .fsm_file_post = fsm_file_post,
    .fsm_file_prepare = nullptr,
  };
}

}  // namespace

extern "C" {
// The symbols rpm looks up: <name>_hooks, for %__transaction_pkgunify and
// (guest mode) %__transaction_pkgunify_guest.
__attribute__((visibility("default"))) rpmPluginHooks_s pkgunify_hooks = hooks_with(init);
__attribute__((visibility("default"))) rpmPluginHooks_s pkgunify_guest_hooks = hooks_with(init_guest);
}
