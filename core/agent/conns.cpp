// SPDX-License-Identifier: GPL-2.0-or-later
// The agent's connections: accepting on a guest's socket, reading a
// request, queueing its job, answering.
#include "agent/internal/server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace pkgunify::agent {

namespace {

constexpr auto k_refusal_log_every = std::chrono::seconds(10);

bool
released_before_changes(Verb v)
{
  return v == Verb::release || v == Verb::release_packages || v == Verb::dpkg_release;
}

}  // namespace

void
Server::accept_on(Slot& slot)
{
  while (slot.connections < m_o.limits.connections_per_guest && m_conns.size() < m_o.limits.connections) {
    sys::Fd fd(::accept4(slot.listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      return;  // EAGAIN: no one else waits; any other error: the next poll tries again
    }
    auto peer = check_peer(fd.get(), slot);
    Conn c;
    c.id = m_next_conn++;
    c.fd = std::move(fd);
    c.guest = slot.entry.name;
    c.pid = peer ? peer->pid : 0;
    if (peer) {
      c.view = std::move(peer->view);
    }
    c.deadline = Clock::now() + m_o.limits.request_time;
    ++slot.connections;
    const std::uint64_t id = c.id;
    m_conns.emplace(id, std::move(c));
    if (!peer) {
      refuse(slot, id, peer.error().message);
    }
  }
}

// A peer that may not be served gets an error answer, and is logged at most
// every 10 s per guest (a flood is one line with a count, not a full log).
void
Server::refuse(Slot& slot, std::uint64_t conn, const std::string& why)
{
  ++slot.refused;
  Answer a;
  a.errors.push_back(why);
  answer(conn, a);
  const auto now = Clock::now();
  if (now - slot.last_refusal_log < k_refusal_log_every) {
    ++slot.refusals_unlogged;
    return;
  }
  m_log.warning("guest " + slot.entry.name + ": " + why
                + (slot.refusals_unlogged ? " (and " + std::to_string(slot.refusals_unlogged) + " more refused)" : ""));
  slot.refusals_unlogged = 0;
  slot.last_refusal_log = now;
}

void
Server::on_conn(Conn& c, short revents)
{
  if (c.state == ConnState::writing) {
    if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
      close_conn(c.id);
    } else {
      write_some(c);
    }
    return;
  }
  if (c.state == ConnState::lingering) {
    char drop[65536];
    ssize_t n;
    while ((n = ::recv(c.fd.get(), drop, sizeof(drop), 0)) > 0) {
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      close_conn(c.id);
    }
    return;
  }
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (c.in.size() + got > k_max_request || m_buffered_bytes + got > m_o.limits.buffered_bytes) {
        Answer a;
        a.outcome = c.in.size() + got > k_max_request ? Outcome::error : Outcome::busy;
        a.errors.push_back(a.outcome == Outcome::error
                             ? "the request is longer than " + std::to_string(k_max_request) + " bytes"
                             : "the agent is reading too many requests at once; try again later");
        answer(c.id, a);
        return;
      }
      c.in.append(buf, got);
      m_buffered_bytes += got;
      continue;
    }
    if (n == 0) {
      request_complete(c);  // the client shut its side: the request is whole
    } else if (errno != EAGAIN && errno != EINTR) {
      close_conn(c.id);
    }
    return;
  }
}

void
Server::request_complete(Conn& c)
{
  auto r = decode_request(c.in);
  const std::uint64_t id = c.id;
  auto slot = m_slots.find(c.guest);
  if (!r || slot == m_slots.end()) {
    Answer a;
    a.errors.push_back(r ? "guest " + c.guest + " is no longer registered" : "bad request: " + r.error().message);
    answer(id, a);
    return;
  }
  Job job;
  job.bytes = c.in.size();
  job.request = std::move(*r);
  if (job.request.verb == Verb::dpkg_release || job.request.verb == Verb::release_packages) {
    job.view = std::move(c.view);  // the .deb and .rpm files it names, as the guest sees them
  }
  forget_input(c);
  const bool queued_only = !job.request.wait && (job.request.verb == Verb::unify || job.request.verb == Verb::sync);
  job.conn = queued_only ? 0 : id;
  c.state = ConnState::waiting;
  Slot& s = slot->second;
  if (!enqueue(s, std::move(job))) {
    Answer a;
    a.outcome = Outcome::busy;
    a.errors.push_back("guest " + s.entry.name + " has " + std::to_string(s.queue.size())
                       + " requests waiting already; try again later");
    answer(id, a);
  } else if (queued_only) {
    Answer a;
    a.outcome = Outcome::queued;
    answer(id, a);
  }
}

// False when the guest has too many requests waiting already.
bool
Server::enqueue(Slot& slot, Job job)
{
  // A sync queued already does what another one would.
  if (job.request.verb == Verb::sync && !job.conn) {
    for (const auto& q : slot.queue) {
      if (q.request.verb == Verb::sync && q.request.db == job.request.db) {
        return true;
      }
    }
  }
  if (slot.queue.size() >= m_o.limits.queued_per_guest || m_queued_bytes + job.bytes > m_o.limits.queued_bytes) {
    return false;
  }
  m_queued_bytes += job.bytes;
  slot.queue.push_back(std::move(job));
  return true;
}

void
Server::answer(std::uint64_t conn, const Answer& a)
{
  auto it = m_conns.find(conn);
  if (it == m_conns.end()) {
    return;  // it hung up
  }
  Conn& c = it->second;
  c.linger = c.state == ConnState::reading;
  forget_input(c);
  c.out = encode(a);
  c.out_done = 0;
  c.state = ConnState::writing;
  c.deadline = Clock::now() + m_o.limits.answer_time;
  write_some(c);
}

void
Server::write_some(Conn& c)
{
  while (c.out_done < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_done, c.out.size() - c.out_done, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      return;
    }
    if (n <= 0) {
      break;
    }
    c.out_done += static_cast<std::size_t>(n);
  }
  if (c.linger && c.out_done == c.out.size()) {
    ::shutdown(c.fd.get(), SHUT_WR);
    c.state = ConnState::lingering;
    c.deadline = Clock::now() + m_o.limits.answer_time;
    return;
  }
  close_conn(c.id);
}

void
Server::forget_input(Conn& c)
{
  m_buffered_bytes -= c.in.size();
  c.in.clear();
  c.in.shrink_to_fit();
}

void
Server::close_conn(std::uint64_t id)
{
  auto it = m_conns.find(id);
  if (it == m_conns.end()) {
    return;
  }
  forget_input(it->second);
  if (auto s = m_slots.find(it->second.guest); s != m_slots.end() && s->second.connections > 0) {
    --s->second.connections;
  }
  m_conns.erase(it);
}

// The next guest whose job may start: one job per guest at a time, guests
// in turn, and releases (a package manager waits for them) before
// unification.
Slot*
Server::next_slot()
{
  if (m_slots.empty()) {
    return nullptr;
  }
  for (bool releases_only : {true, false}) {
    auto it = m_slots.begin();
    std::advance(it, m_round_robin % m_slots.size());
    for (std::size_t n = 0; n < m_slots.size(); ++n, ++it) {
      if (it == m_slots.end()) {
        it = m_slots.begin();
      }
      Slot& s = it->second;
      if (!s.running && !s.queue.empty() && (!releases_only || released_before_changes(s.queue.front().request.verb))) {
        m_round_robin += n + 1;
        return &s;
      }
    }
  }
  return nullptr;
}

void
Server::schedule()
{
  while (m_children.size() < m_o.limits.jobs) {
    Slot* s = next_slot();
    if (!s) {
      return;
    }
    Job job = std::move(s->queue.front());
    s->queue.pop_front();
    m_queued_bytes -= job.bytes;
    const std::uint64_t conn = job.conn;
    auto child = start_child(m_o, *s, std::move(job), m_mask, m_files_limit);
    if (!child) {
      Answer a;
      a.errors.push_back(child.error().message);
      answer(conn, a);
      continue;
    }
    s->running = true;
    m_children.push_back(std::move(*child));
  }
}

}  // namespace pkgunify::agent
