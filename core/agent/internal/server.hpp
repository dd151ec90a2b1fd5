// SPDX-License-Identifier: GPL-2.0-or-later
// The agent's state and its parts: the guests' sockets (slots.cpp), the
// peer check (peer.cpp), the children that carry out requests (jobs.cpp),
// the poll loop (agent.cpp).
#pragma once

#include "agent/agent.hpp"
#include "engine/guests.hpp"
#include "guest/agent_protocol.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pkgunify::agent {

using Clock = std::chrono::steady_clock;

// What the agent keeps of a child's standard output and error.
inline constexpr std::size_t k_output_limit = std::size_t{1} << 20;

// A request to carry out on a guest.
struct Job
{
  Request request;
  std::uint64_t conn = 0;  // the connection waiting for the answer; 0: nobody waits
  std::size_t bytes = 0;   // its size, counted against Limits::queued_bytes
  sys::Fd view;            // the peer's root (Peer::view), for the files it names: the child's fd 3
};

// A registered guest the agent serves.
struct Slot
{
  GuestEntry entry;
  dev_t root_dev = 0;
  ino_t root_ino = 0;
  uid_t root_owner = 0;
  std::string dir;  // RUNTIME/guests/NAME
  std::string socket_path;
  sys::Fd listener;
  dev_t socket_dev = 0;
  ino_t socket_ino = 0;
  std::deque<Job> queue;
  bool running = false;
  std::size_t connections = 0;
  std::uint64_t served = 0;
  std::uint64_t refused = 0;
  std::uint64_t refusals_unlogged = 0;
  Clock::time_point last_refusal_log{};
};

// reading the request; waiting for its job; writing the answer; lingering:
// the answer is sent, and what the client still sends is read and dropped
// until it closes (closing with unread data would reset the connection and
// lose the answer).
enum class ConnState { reading, waiting, writing, lingering };

struct Conn
{
  std::uint64_t id = 0;
  sys::Fd fd;
  std::string guest;
  pid_t pid = 0;
  sys::Fd view;
  ConnState state = ConnState::reading;
  std::string in;
  std::string out;
  std::size_t out_done = 0;
  bool linger = false;  // answered before the whole request was read
  Clock::time_point deadline;
};

struct Child
{
  pid_t pid = -1;
  std::string guest;
  Job job;
  sys::Fd in, out, err;
  std::string input;
  std::size_t input_done = 0;
  std::string stdout_text, stderr_text;
  bool exited = false;
  int status = 0;
  bool timed_out = false;
  std::chrono::seconds time_limit{0};
  Clock::time_point deadline;
  std::optional<Clock::time_point> kill_at;  // SIGKILL after SIGTERM
  std::optional<Clock::time_point> exited_at;
};

// ---- slots.cpp -----------------------------------------------------------

// Creates RUNTIME and RUNTIME/guests (0755, root's, writable by root only:
// an error otherwise).
sys::Result<void> prepare_agent_dir(const std::string& runtime_dir);
// Creates RUNTIME/guests (0755) and gives `slot` its listening socket
// RUNTIME/guests/NAME/agent.sock (0666: the peer check decides).
sys::Result<void> open_slot(const std::string& runtime_dir, Slot& slot);
// The socket on disk is still the one the agent listens on (a guest with
// the directory mounted writable may have removed or replaced it).
bool slot_socket_intact(const Slot& slot);
// Removes the socket, and with `remove_dir` (the guest left the registry)
// its directory when it is empty and no mount point. A stopping agent keeps
// the directories: a container whose configuration bind-mounts one must
// still start (and its client then finds no agent, and says so).
void close_slot(Slot& slot, bool remove_dir);
// A slot for `entry` with its root's identity; an error when the root is
// no directory.
sys::Result<Slot> make_slot(const GuestEntry& entry);

// ---- peer.cpp ------------------------------------------------------------

struct Peer
{
  pid_t pid = 0;
  uid_t uid = 0;
  sys::Fd view;  // O_PATH of /proc/PID/root: the guest as the peer sees it (its own mounts)
};

// Serves the connection `fd` of `slot` only when its peer's root directory
// (/proc/PID/root of SO_PEERCRED's pid, checked against a pidfd so that a
// reused pid cannot pass) is the guest's root, and its uid is 0 or the
// root directory's owner. The error says why not.
sys::Result<Peer> check_peer(int fd, const Slot& slot);

// ---- jobs.cpp ------------------------------------------------------------

// The argument vector of the child that carries out `r` on `slot`'s root.
std::vector<std::string> job_argv(const Options& o, const Slot& slot, const Request& r);
// What the child reads on standard input.
std::string job_input(const Request& r);
std::chrono::seconds job_time(const Limits& l, Verb v);
// Starts the child; its pipes are non-blocking.
sys::Result<Child> start_child(const Options& o, const Slot& slot, Job job, const sigset_t& unblock,
                               const rlimit& files);
// The answer for a child that ended.
Answer answer_of(const Child& c);
// Reads what a pipe has (bounded: beyond `limit` bytes the rest is dropped);
// false at EOF or error.
bool drain(int fd, std::string& into, std::size_t limit);

// ---- agent.cpp, conns.cpp: the poll loop -------------------------------

// What Server::poll_once polls, in the order of its pollfd array.
struct PollRef
{
  enum class Kind { signals, registry, listener, conn, child } kind;
  std::string guest;
  std::uint64_t conn = 0;
  pid_t child = 0;
  int which = 0;  // child: 0 stdin, 1 stdout, 2 stderr
};

class Server
{
public:
  Server(const Options& o, Reporter& log);
  int run();

private:
  // agent.cpp
  void setup_signals();
  void watch_registry();
  void rescan();
  void update_slot(const GuestEntry& e);
  void drop_slot(const std::string& name, const std::string& why);
  void on_signal();
  void poll_once();
  void dispatch(const PollRef& r, short revents);
  void reap();
  void on_child_io(Child& c, int which);
  void finish_children();
  void finish(Child& c);
  void expire(Clock::time_point now);
  void begin_stop();
  [[nodiscard]] int poll_timeout(Clock::time_point now) const;
  void note(const std::string& message);

  // conns.cpp
  void accept_on(Slot& slot);
  void refuse(Slot& slot, std::uint64_t conn, const std::string& why);
  void on_conn(Conn& c, short revents);
  void request_complete(Conn& c);
  bool enqueue(Slot& slot, Job job);
  void answer(std::uint64_t conn, const Answer& a);
  void write_some(Conn& c);
  void close_conn(std::uint64_t id);
  void forget_input(Conn& c);
  void schedule();
  Slot* next_slot();

  const Options& m_o;
  Reporter& m_log;
  std::map<std::string, Slot> m_slots;
  std::map<std::uint64_t, Conn> m_conns;
  std::vector<Child> m_children;
  std::vector<std::string> m_registry_errors;
  std::size_t m_queued_bytes = 0;
  std::size_t m_buffered_bytes = 0;  // Conn::in of every connection
  rlimit m_files_limit{};            // RLIMIT_NOFILE as the agent found it: its children get it back
  std::uint64_t m_next_conn = 1;
  std::size_t m_round_robin = 0;
  sys::Fd m_signals;
  sys::Fd m_inotify;
  int m_watch = -1;
  sigset_t m_mask{};
  bool m_stopping = false;
  std::optional<Clock::time_point> m_stop_deadline;
  Clock::time_point m_next_rescan{};
};

}  // namespace pkgunify::agent
