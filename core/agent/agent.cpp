// SPDX-License-Identifier: GPL-2.0-or-later
// The agent's loop: signals, the registry, the children.
#include "agent/internal/server.hpp"

#include "sys/exceptions.hpp"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <set>

namespace pkgunify::agent {

namespace {

constexpr auto k_stop_grace = std::chrono::seconds(30);
constexpr auto k_kill_grace = std::chrono::seconds(10);
constexpr auto k_pipe_grace = std::chrono::seconds(2);  // output a child's own children still hold

}  // namespace

Server::Server(const Options& o, Reporter& log) : m_o(o), m_log(log) {}

void
Server::note(const std::string& message)
{
  std::cerr << "pkgunify agent: " << message << '\n' << std::flush;
}

void
Server::setup_signals()
{
  sigemptyset(&m_mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
    sigaddset(&m_mask, s);
  }
  if (::sigprocmask(SIG_BLOCK, &m_mask, nullptr) != 0) {
    throw ConfigError(sys::sys_error("sigprocmask", "the agent").message);
  }
  m_signals = sys::Fd(::signalfd(-1, &m_mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!m_signals) {
    throw ConfigError(sys::sys_error("signalfd", "the agent").message);
  }
  ::signal(SIGPIPE, SIG_IGN);  // a guest that hangs up is an EPIPE, not the end of the agent
  // A socket per guest and one per connection: as many descriptors as the
  // hard limit allows (systemd's is 524288); children get the soft one back.
  if (::getrlimit(RLIMIT_NOFILE, &m_files_limit) == 0) {
    rlimit raised = m_files_limit;
    raised.rlim_cur = raised.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &raised);
  }
}

// The registry directory is watched, so that a guest added or removed is
// served or dropped at once; without a watch (no directory yet) the
// periodic rescan finds it.
void
Server::watch_registry()
{
  if (!m_inotify) {
    m_inotify = sys::Fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  }
  if (m_inotify && m_watch < 0) {
    m_watch = ::inotify_add_watch(m_inotify.get(), m_o.guests_dir.c_str(),
                                  IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF
                                    | IN_MOVE_SELF | IN_ONLYDIR);
  }
}

void
Server::rescan()
{
  m_next_rescan = Clock::now() + m_o.limits.rescan;
  watch_registry();
  const GuestRegistry reg = load_guests(m_o.guests_dir);
  if (reg.errors != m_registry_errors) {
    for (const auto& e : reg.errors) {
      m_log.error(e);
    }
    m_registry_errors = reg.errors;
  }
  std::set<std::string> names;
  for (const auto& e : reg.guests) {
    names.insert(e.name);
    update_slot(e);
  }
  std::vector<std::string> gone;
  for (const auto& [name, slot] : m_slots) {
    if (!names.contains(name)) {
      gone.push_back(name);
    }
  }
  for (const auto& name : gone) {
    drop_slot(name, "guest " + name + " is no longer registered");
  }
}

void
Server::update_slot(const GuestEntry& e)
{
  auto it = m_slots.find(e.name);
  const bool known = it != m_slots.end();
  if (known && it->second.entry.root == e.root && it->second.entry.policy == e.policy
      && slot_socket_intact(it->second)) {
    return;
  }
  auto fresh = make_slot(e);
  if (!fresh) {
    if (known) {
      drop_slot(e.name, "its registry entry " + e.file + " is not usable");
    }
    m_log.error("guest " + e.name + " (" + e.file + "): " + fresh.error().message + "; not served");
    return;
  }
  if (known) {
    // The same guest: its queue and connections stay; the root's identity
    // and the socket are taken again.
    Slot& s = it->second;
    s.entry = fresh->entry;
    s.root_dev = fresh->root_dev;
    s.root_ino = fresh->root_ino;
    s.root_owner = fresh->root_owner;
    if (slot_socket_intact(s)) {
      return;
    }
  }
  Slot& s = known ? it->second : m_slots.emplace(e.name, std::move(*fresh)).first->second;
  if (auto ok = open_slot(m_o.runtime_dir, s); !ok) {
    m_log.error("guest " + e.name + ": " + ok.error().message + "; not served");
    return;
  }
  note("serving guest " + e.name + " (" + e.root + ") on " + s.socket_path);
}

void
Server::drop_slot(const std::string& name, const std::string& why)
{
  auto it = m_slots.find(name);
  if (it == m_slots.end()) {
    return;
  }
  Answer gone;
  gone.errors.push_back(why);
  for (auto& job : it->second.queue) {
    m_queued_bytes -= job.bytes;
    if (job.conn) {
      answer(job.conn, gone);
    }
  }
  it->second.queue.clear();
  close_slot(it->second, !m_stopping);
  m_slots.erase(it);
  note("guest " + name + ": " + why);
}

void
Server::on_signal()
{
  signalfd_siginfo info{};
  while (::read(m_signals.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo == SIGHUP) {
      note("SIGHUP: reading the registry again");
      rescan();
    } else if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
      begin_stop();
    }
  }
  reap();
}

void
Server::reap()
{
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      return;
    }
    for (auto& c : m_children) {
      if (c.pid == pid) {
        c.exited = true;
        c.status = status;
        c.exited_at = Clock::now();
      }
    }
  }
}

void
Server::on_child_io(Child& c, int which)
{
  if (which == 0) {
    while (c.input_done < c.input.size()) {
      const ssize_t n = ::write(c.in.get(), c.input.data() + c.input_done, c.input.size() - c.input_done);
      if (n <= 0) {
        if (n < 0 && errno == EAGAIN) {
          return;
        }
        break;  // EPIPE: the child reads no more
      }
      c.input_done += static_cast<std::size_t>(n);
    }
    c.in = sys::Fd();
    return;
  }
  sys::Fd& fd = which == 1 ? c.out : c.err;
  if (!drain(fd.get(), which == 1 ? c.stdout_text : c.stderr_text, k_output_limit)) {
    fd = sys::Fd();
  }
}

void
Server::finish_children()
{
  const auto now = Clock::now();
  for (auto& c : m_children) {
    if (c.exited && ((!c.out && !c.err) || now - *c.exited_at > k_pipe_grace)) {
      finish(c);
      c.pid = -1;
    }
  }
  std::erase_if(m_children, [](const Child& c) { return c.pid < 0; });
}

void
Server::finish(Child& c)
{
  if (c.out) {
    drain(c.out.get(), c.stdout_text, k_output_limit);
  }
  if (c.err) {
    drain(c.err.get(), c.stderr_text, k_output_limit);
  }
  const Answer a = answer_of(c);
  std::string counts;
  for (const auto& [name, n] : a.counts) {
    counts += (counts.empty() ? "" : ", ") + name + " " + std::to_string(n);
  }
  note("guest " + c.guest + ": " + std::string(verb_name(c.job.request.verb)) + " ("
       + std::to_string(c.job.request.args.size()) + " arguments): " + std::string(outcome_name(a.outcome))
       + (counts.empty() ? "" : " (" + counts + ")"));
  for (const auto& e : a.errors) {
    m_log.warning("guest " + c.guest + ": " + e);
  }
  if (c.job.conn) {
    answer(c.job.conn, a);
  }
  if (auto it = m_slots.find(c.guest); it != m_slots.end()) {
    it->second.running = false;
    ++it->second.served;
  }
}

void
Server::expire(Clock::time_point now)
{
  std::vector<std::uint64_t> late;
  for (auto& [id, c] : m_conns) {
    if (c.state != ConnState::waiting && now > c.deadline) {
      late.push_back(id);
    }
  }
  for (auto id : late) {
    Conn& c = m_conns.at(id);
    if (c.state == ConnState::reading) {
      Answer a;
      a.errors.push_back("the request was not complete within " + std::to_string(m_o.limits.request_time.count() / 1000)
                         + " s");
      answer(id, a);
      if (m_conns.contains(id)) {
        m_conns.at(id).deadline = now + m_o.limits.answer_time;
      }
    } else {
      close_conn(id);  // it does not take its answer
    }
  }
  for (auto& c : m_children) {
    if (!c.exited && !c.kill_at && now > c.deadline) {
      c.timed_out = true;
      ::kill(c.pid, SIGTERM);  // pkgunify ends after its lift window
      c.kill_at = now + k_kill_grace;
    } else if (!c.exited && c.kill_at && now > *c.kill_at) {
      ::kill(c.pid, SIGKILL);  // its lift journal is recovered by the next run
      c.kill_at = now + std::chrono::hours(1);
    }
  }
}

void
Server::begin_stop()
{
  if (m_stopping) {
    return;
  }
  m_stopping = true;
  m_stop_deadline = Clock::now() + k_stop_grace;
  note("stopping: no new requests; waiting for " + std::to_string(m_children.size()) + " running jobs");
  std::vector<std::string> names;
  for (const auto& [name, slot] : m_slots) {
    names.push_back(name);
  }
  for (const auto& name : names) {
    drop_slot(name, "the agent is stopping");
  }
}

int
Server::poll_timeout(Clock::time_point now) const
{
  Clock::time_point next = m_next_rescan;
  for (const auto& [id, c] : m_conns) {
    if (c.state != ConnState::waiting) {
      next = std::min(next, c.deadline);
    }
  }
  for (const auto& c : m_children) {
    next = std::min(next, c.kill_at ? *c.kill_at : c.deadline);
    if (c.exited) {
      next = std::min(next, *c.exited_at + k_pipe_grace);
    }
  }
  if (m_stop_deadline) {
    next = std::min(next, *m_stop_deadline);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms + 1, 0, 60'000));
}

void
Server::poll_once()
{
  std::vector<pollfd> fds;
  std::vector<PollRef> refs;
  auto add = [&](int fd, short events, PollRef ref) {
    fds.push_back({fd, events, 0});
    refs.push_back(std::move(ref));
  };
  add(m_signals.get(), POLLIN, {PollRef::Kind::signals, {}});
  if (m_inotify) {
    add(m_inotify.get(), POLLIN, {PollRef::Kind::registry, {}});
  }
  for (auto& [name, s] : m_slots) {
    if (s.listener && s.connections < m_o.limits.connections_per_guest && m_conns.size() < m_o.limits.connections) {
      add(s.listener.get(), POLLIN, {PollRef::Kind::listener, name});
    }
  }
  for (auto& [id, c] : m_conns) {
    if (c.state != ConnState::waiting) {
      add(c.fd.get(), c.state == ConnState::writing ? POLLOUT : POLLIN, {PollRef::Kind::conn, {}, id});
    }
  }
  for (auto& c : m_children) {
    const sys::Fd* pipes[] = {&c.in, &c.out, &c.err};
    for (int i = 0; i < 3; ++i) {
      if (*pipes[i]) {
        add(pipes[i]->get(), i == 0 ? POLLOUT : POLLIN, {PollRef::Kind::child, {}, 0, c.pid, i});
      }
    }
  }
  const int n = ::poll(fds.data(), fds.size(), poll_timeout(Clock::now()));
  if (n < 0 && errno != EINTR) {
    throw ConfigError(sys::sys_error("poll", "the agent's sockets").message);
  }
  for (std::size_t i = 0; n > 0 && i < fds.size(); ++i) {
    if (fds[i].revents != 0) {
      dispatch(refs[i], fds[i].revents);
    }
  }
}

void
Server::dispatch(const PollRef& r, short revents)
{
  {
    switch (r.kind) {
    case PollRef::Kind::signals:
      on_signal();
      break;
    case PollRef::Kind::registry: {
      char buf[4096];
      while (::read(m_inotify.get(), buf, sizeof(buf)) > 0) {
      }
      if (!m_stopping) {
        m_watch = -1;  // IN_DELETE_SELF and the like: watched again by rescan
        rescan();
      }
      break;
    }
    case PollRef::Kind::listener:
      if (auto it = m_slots.find(r.guest); it != m_slots.end()) {
        accept_on(it->second);
      }
      break;
    case PollRef::Kind::conn:
      if (auto it = m_conns.find(r.conn); it != m_conns.end()) {
        on_conn(it->second, revents);
      }
      break;
    case PollRef::Kind::child:
      for (auto& c : m_children) {
        if (c.pid == r.child) {
          on_child_io(c, r.which);
        }
      }
      break;
    }
  }
}

int
Server::run()
{
  setup_signals();
  if (auto ok = prepare_agent_dir(m_o.runtime_dir); !ok) {
    throw ConfigError(ok.error().message);
  }
  rescan();
  note("ready: " + std::to_string(m_slots.size()) + " guests from " + m_o.guests_dir);
  for (;;) {
    poll_once();
    reap();
    finish_children();
    const auto now = Clock::now();
    expire(now);
    if (m_stopping) {
      if (m_children.empty() && m_conns.empty()) {
        note("stopped");
        return 0;
      }
      if (now > *m_stop_deadline) {
        for (auto& c : m_children) {
          if (!c.kill_at) {
            ::kill(c.pid, SIGTERM);
            c.kill_at = now + k_kill_grace;
          }
        }
        m_stop_deadline = now + k_kill_grace;
      }
      continue;
    }
    if (now >= m_next_rescan) {
      rescan();
    }
    schedule();
  }
}

int
run_agent(const Options& options, Reporter& log)
{
  Server server(options, log);
  return server.run();
}

}  // namespace pkgunify::agent
