// rpm transaction plugin: hands the non-config files each transaction
// installed to the pkgunify core, and releases unified files that rpm is
// about to replace or erase. A thin shim: no unification logic of its own.
//
// Where the hooks run (rpm 4.18, `rpm --root R`): init, tsm_pre and tsm_post
// on the host; psm_* and fsm_* chrooted into R. So files are collected with
// their paths inside R and unified at tsm_post, on the host side, after the
// rpmdb is updated. No exception crosses into rpm, and no hook changes a
// transaction's result: failures are logged through rpmlog.
#include "hooks.hpp"

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

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using pkgunify::HookRequest;
using pkgunify::Reporter;
using pkgunify::ScanStats;

class RpmLogReporter : public Reporter
{
public:
  void
  error(std::string_view message) override
  {
    rpmlog(RPMLOG_WARNING, "pkgunify: %.*s\n", static_cast<int>(message.size()), message.data());
  }
  void
  warning(std::string_view message) override
  {
    rpmlog(RPMLOG_WARNING, "pkgunify: %.*s\n", static_cast<int>(message.size()), message.data());
  }
};

struct Element
{
  std::vector<std::string> files;
  std::set<std::string> config;
  bool installed = false;
};

struct State
{
  std::string policy_file;  // the first word of the plugin's options that is no keyword
  bool synchronous = false;  // option "sync": unify inside the transaction
  std::string log = "/var/log/pkgunify.log";  // option "log=FILE": the worker's messages
  bool skip = false;        // test transaction
  std::string root;
  rpmte current = nullptr;
  std::map<rpmte, Element> elements;
};

State*
state_of(rpmPlugin plugin)
{
  return static_cast<State*>(rpmPluginGetData(plugin));
}

rpmRC
init(rpmPlugin plugin, rpmts /*ts*/) noexcept
try {
  auto* state = new State;
  if (const char* opts = rpmPluginOpts(plugin)) {
    std::istringstream words(opts);
    for (std::string w; words >> w;) {
      if (w == "sync") {
        state->synchronous = true;
      } else if (w.starts_with("log=")) {
        state->log = w.substr(4);
      } else if (state->policy_file.empty()) {
        state->policy_file = w;
      }
    }
  }
  rpmPluginSetData(plugin, state);
  return RPMRC_OK;
} catch (...) {
  return RPMRC_NOTFOUND;  // drop the plugin quietly
}

void
cleanup(rpmPlugin plugin) noexcept
{
  delete state_of(plugin);
  rpmPluginSetData(plugin, nullptr);
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
  // A worker of the previous transaction may still link this root's files:
  // it finishes before this transaction touches them.
  pkgunify::wait_for_background(s->root);
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
// immutable gets its private, writable copy first. rpmfiFN is the final name
// (path may be a temporary one).
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
  RpmLogReporter reporter;
  pkgunify::release_if_protected(fn, true, reporter);
  return RPMRC_OK;  // never fail the operation: rpm reports what it cannot do
} catch (...) {
  return RPMRC_OK;
}

// Collects the regular non-config files the element created.
rpmRC
fsm_file_post(rpmPlugin plugin, rpmfi fi, const char* path, mode_t file_mode, rpmFsmOp op, int res) noexcept
try {
  State* s = state_of(plugin);
  // rpm 4.18.0 passes fi == NULL and path == NULL for directories it makes.
  if (s->skip || !fi || !path || res != 0 || !s->current || !S_ISREG(file_mode)) {
    return RPMRC_OK;
  }
  const rpmFileAction action = static_cast<rpmFileAction>(XFO_ACTION(op));
  if (action != FA_CREATE && action != FA_TOUCH) {
    return RPMRC_OK;  // .rpmnew, .rpmsave, erase, skipped
  }
  Element& e = s->elements[s->current];
  if (rpmfiFFlags(fi) & RPMFILE_CONFIG) {
    e.config.insert(rpmfiFN(fi));
    return RPMRC_OK;
  }
  e.files.emplace_back(rpmfiFN(fi));
  return RPMRC_OK;
} catch (...) {
  return RPMRC_OK;
}

rpmRC
tsm_post(rpmPlugin plugin, rpmts /*ts*/, int /*res*/) noexcept
try {
  State* s = state_of(plugin);
  if (s->skip) {
    return RPMRC_OK;
  }
  HookRequest request;
  request.root = s->root;
  request.policy_file = s->policy_file;
  for (auto& [te, e] : s->elements) {
    if (!e.installed) {
      continue;
    }
    request.files.insert(request.files.end(), e.files.begin(), e.files.end());
    request.config.insert(e.config.begin(), e.config.end());
  }
  s->elements.clear();
  if (request.files.empty()) {
    return RPMRC_OK;
  }
  RpmLogReporter reporter;
  // By default in a detached worker: the transaction costs a fork. A bad
  // policy, store or link mode is reported here, through rpm's log; the
  // worker's own messages (per file) go to its log file.
  if (!s->synchronous) {
    if (!pkgunify::check_hook_config(request, reporter)) {
      return RPMRC_OK;
    }
    if (pkgunify::unify_files_in_background(request, s->log)) {
      return RPMRC_OK;
    }
  }
  const auto result = pkgunify::unify_files(request, reporter);
  if (result.ran) {
    rpmlog(RPMLOG_DEBUG, "pkgunify: %llu files linked, %llu already linked, %llu errors\n",
           static_cast<unsigned long long>(result.stats.linked),
           static_cast<unsigned long long>(result.stats.already_linked),
           static_cast<unsigned long long>(result.stats.errors));
  }
  return RPMRC_OK;
} catch (...) {
  return RPMRC_OK;
}

} // namespace

extern "C" {
// The one symbol rpm looks up: <name>_hooks.
__attribute__((visibility("default"))) rpmPluginHooks_s pkgunify_hooks = {
  init, cleanup, tsm_pre, tsm_post, psm_pre, psm_post, nullptr, nullptr, nullptr, fsm_file_pre, fsm_file_post,
  nullptr,
};
}
