// SPDX-License-Identifier: GPL-2.0-or-later
// The children that carry out requests: one pkgunify command each, on the
// guest's root, which resolves every path the guest names beneath it.
#include "agent/internal/server.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <sstream>

namespace pkgunify::agent {

namespace {

// argv's strings as the char* vector execv takes.
std::vector<char*>
c_argv(std::vector<std::string>& argv)
{
  std::vector<char*> out;
  for (auto& a : argv) {
    out.push_back(a.data());
  }
  out.push_back(nullptr);
  return out;
}

// In the child, before exec: its own pipes on 0, 1, 2, the peer's root on
// 3 (when the job reads files the guest names), signals as a new
// process has them, unification jobs at a lower priority. (After fork, in a
// process of one thread: setenv is safe here.)
[[noreturn]] void
exec_child(std::vector<std::string> argv, std::array<int, 3> fds, int view, const sigset_t& unblock, bool background,
           const std::string& runtime_dir, const rlimit& files)
{
  (void)::setrlimit(RLIMIT_NOFILE, &files);
  // Its locks and lift journal are the agent's runtime directory's.
  ::setenv("PKGUNIFY_RUNTIME_DIR", runtime_dir.c_str(), 1);
  for (int i = 0; i < 3; ++i) {
    if (::dup2(fds[i], i) < 0) {
      ::_exit(127);
    }
  }
  if (view >= 0 && (view == 3 ? ::fcntl(3, F_SETFD, 0) : ::dup2(view, 3)) < 0) {
    ::_exit(127);
  }
  ::sigprocmask(SIG_UNBLOCK, &unblock, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  if (background) {
    (void)::setpriority(PRIO_PROCESS, 0, 10);
  }
  auto args = c_argv(argv);
  ::execv(args[0], args.data());
  ::_exit(127);
}

struct Pipe
{
  sys::Fd read, write;
};

sys::Result<Pipe>
make_pipe()
{
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return sys::fail_sys("pipe2", "a job's pipe");
  }
  return Pipe{sys::Fd(fds[0]), sys::Fd(fds[1])};
}

void
add_counts(Answer& a, const std::string& out)
{
  const auto j = nlohmann::json::parse(out, nullptr, false);
  if (!j.is_object()) {
    return;
  }
  for (const auto& [key, value] : j.items()) {
    if (value.is_number_unsigned()) {
      a.counts.emplace_back(key, value.get<std::uint64_t>());
    } else if (value.is_array()) {
      a.counts.emplace_back(key, value.size());
    }
  }
}

std::vector<std::string>
lines_of(const std::string& text)
{
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("pkgunify: ")) {
      line.erase(0, 10);
    }
    if (!line.empty()) {
      out.push_back(line);
    }
  }
  return out;
}

}  // namespace

std::vector<std::string>
job_argv(const Options& o, const Slot& slot, const Request& r)
{
  const std::string& root = slot.entry.root;
  const std::string& policy = slot.entry.policy.empty() ? o.policy : slot.entry.policy;
  std::vector<std::string> argv{o.program};
  switch (r.verb) {
  case Verb::release:
  case Verb::release_packages:
    argv.insert(argv.end(), {"release", "--root", root, "--stdin", "--json"});
    if (r.verb == Verb::release_packages) {
      argv.emplace_back("--packages");
    }
    return argv;  // no policy: release needs none
  case Verb::dpkg_release:
    argv.insert(argv.end(), {"dpkg-release", "--root", root, "--args-from-stdin", "--json"});
    if (!r.cwd.empty()) {
      argv.insert(argv.end(), {"--cwd", r.cwd});
    }
    break;
  case Verb::unify:
    argv.insert(argv.end(), {"unify-files", "--root", root, "--json"});
    break;
  case Verb::sync:
    argv.insert(argv.end(), {"sync", "--root", root, "--json"});
    if (!r.db.empty()) {
      argv.insert(argv.end(), {"--db", r.db});
    }
    if (!o.state_dir.empty()) {
      argv.insert(argv.end(), {"--state-dir", o.state_dir});
    }
    break;
  case Verb::status:
    argv.insert(argv.end(), {"status", root});
    break;
  }
  if (!policy.empty()) {
    argv.insert(argv.end(), {"--policy", policy});
  }
  return argv;
}

std::string
job_input(const Request& r)
{
  std::string out;
  for (const auto& a : r.args) {
    out += a;
    out += '\0';
  }
  return out;
}

std::chrono::seconds
job_time(const Limits& l, Verb v)
{
  switch (v) {
  case Verb::release:
  case Verb::release_packages:
  case Verb::dpkg_release:
    return l.release_time;
  case Verb::unify:
  case Verb::sync:
    return l.unify_time;
  case Verb::status:
    return l.status_time;
  }
  return l.status_time;
}

sys::Result<Child>
start_child(const Options& o, const Slot& slot, Job job, const sigset_t& unblock, const rlimit& files)
{
  auto in = make_pipe();
  auto out = make_pipe();
  auto err = make_pipe();
  if (!in || !out || !err) {
    return std::unexpected(!in ? in.error() : !out ? out.error() : err.error());
  }
  std::vector<std::string> argv = job_argv(o, slot, job.request);
  if (job.view) {
    argv.insert(argv.end(), {"--view-fd", "3"});
  }
  const bool background = job.request.verb == Verb::unify || job.request.verb == Verb::sync;
  const pid_t pid = ::fork();
  if (pid < 0) {
    return sys::fail_sys("fork", "a job of guest " + slot.entry.name);
  }
  if (pid == 0) {
    exec_child(std::move(argv), {in->read.get(), out->write.get(), err->write.get()}, job.view ? job.view.get() : -1,
               unblock, background, o.runtime_dir, files);
  }
  Child c;
  c.pid = pid;
  c.guest = slot.entry.name;
  c.input = job_input(job.request);
  c.time_limit = job_time(o.limits, job.request.verb);
  c.deadline = Clock::now() + c.time_limit;
  c.job = std::move(job);
  c.in = std::move(in->write);
  c.out = std::move(out->read);
  c.err = std::move(err->read);
  for (const sys::Fd* f : {&c.in, &c.out, &c.err}) {
    ::fcntl(f->get(), F_SETFL, O_NONBLOCK);
  }
  return c;
}

bool
drain(int fd, std::string& into, std::size_t limit)
{
  std::array<char, 16384> buf{};
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) {
      const std::size_t room = into.size() < limit ? limit - into.size() : 0;
      into.append(buf.data(), std::min(room, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      return true;
    }
    return false;
  }
}

Answer
answer_of(const Child& c)
{
  Answer a;
  const bool exited = WIFEXITED(c.status);
  const int code = exited ? WEXITSTATUS(c.status) : -1;
  a.outcome = code == 0 ? Outcome::ok : code == 1 ? Outcome::failed : Outcome::error;
  if (c.job.request.verb == Verb::status) {
    a.text = lines_of(c.stdout_text);
  } else {
    add_counts(a, c.stdout_text);
  }
  auto messages = lines_of(c.stderr_text);
  auto& into = a.outcome == Outcome::failed ? a.failures : a.errors;
  into.insert(into.end(), messages.begin(), messages.end());
  if (c.timed_out) {
    a.errors.push_back(std::string(verb_name(c.job.request.verb)) + " took longer than "
                       + std::to_string(c.time_limit.count()) + " s and was stopped");
  } else if (!exited) {
    a.errors.push_back("the pkgunify that carried it out was killed by signal " + std::to_string(WTERMSIG(c.status)));
  } else if (code > 2) {
    a.errors.push_back("the pkgunify that carried it out exited with status " + std::to_string(code));
  }
  return a;
}

}  // namespace pkgunify::agent
