// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/agent_protocol.hpp"

#include "sys/fd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace pkgunify::agent {

namespace {

constexpr std::array<std::pair<Verb, std::string_view>, 6> k_verbs{{
  {Verb::release, "release"},
  {Verb::release_packages, "release-packages"},
  {Verb::dpkg_release, "dpkg-release"},
  {Verb::unify, "unify"},
  {Verb::sync, "sync"},
  {Verb::status, "status"},
}};

constexpr std::array<std::pair<Outcome, std::string_view>, 5> k_outcomes{{
  {Outcome::ok, "ok"},
  {Outcome::failed, "failed"},
  {Outcome::queued, "queued"},
  {Outcome::busy, "busy"},
  {Outcome::error, "error"},
}};

// The fields of a request: NUL-terminated strings.
sys::Result<std::vector<std::string_view>>
split_fields(std::string_view bytes)
{
  if (bytes.size() > k_max_request) {
    return sys::fail("the request is longer than " + std::to_string(k_max_request) + " bytes");
  }
  std::vector<std::string_view> fields;
  while (!bytes.empty()) {
    const auto nul = bytes.find('\0');
    if (nul == std::string_view::npos) {
      return sys::fail("field " + std::to_string(fields.size() + 1) + " is not NUL-terminated");
    }
    if (nul > k_max_field) {
      return sys::fail("field " + std::to_string(fields.size() + 1) + " is longer than " + std::to_string(k_max_field)
                       + " bytes");
    }
    if (fields.size() == k_max_fields) {
      return sys::fail("the request has more than " + std::to_string(k_max_fields) + " fields");
    }
    fields.push_back(bytes.substr(0, nul));
    bytes.remove_prefix(nul + 1);
  }
  return fields;
}

sys::Result<void>
apply_option(Request& r, std::string_view opt, std::size_t index)
{
  if (opt == "wait") {
    r.wait = true;
  } else if (opt == "db=dpkg" || opt == "db=rpm") {
    r.db = opt.substr(3);
  } else if (opt.starts_with("cwd=/")) {
    r.cwd = opt.substr(4);
  } else {
    return sys::fail("field " + std::to_string(index + 1) + " is no option (wait, db=dpkg, db=rpm, cwd=/PATH)");
  }
  return {};
}

std::size_t
encoded_size(const std::string& arg)
{
  return arg.size() + 1;
}

// Reads what `fd` sends until EOF, at most `limit` bytes (more is an
// error), each wait at most until `deadline`.
sys::Result<std::string>
read_all(int fd, std::size_t limit, std::chrono::steady_clock::time_point deadline)
{
  std::string out;
  std::array<char, 16384> buf{};
  for (;;) {
    const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if (n == 0) {
      return sys::fail("no answer in time", ETIMEDOUT);
    }
    if (n < 0 && errno != EINTR) {
      return sys::fail_sys("poll", "the agent's socket");
    }
    const ssize_t got = ::read(fd, buf.data(), buf.size());
    if (got == 0) {
      return out;
    }
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        continue;
      }
      return sys::fail_sys("read", "the agent's socket");
    }
    if (out.size() + static_cast<std::size_t>(got) > limit) {
      return sys::fail("the answer is longer than " + std::to_string(limit) + " bytes");
    }
    out.append(buf.data(), static_cast<std::size_t>(got));
  }
}

sys::Result<void>
write_all(int fd, std::string_view data, std::chrono::steady_clock::time_point deadline)
{
  while (!data.empty()) {
    const ssize_t put = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (put > 0) {
      data.remove_prefix(static_cast<std::size_t>(put));
      continue;
    }
    if (put < 0 && errno != EAGAIN && errno != EINTR) {
      return sys::fail_sys("send", "the agent's socket", errno == ECONNRESET ? EPIPE : errno);
    }
    const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) == 0) {
      return sys::fail("the agent took no request in time", ETIMEDOUT);
    }
  }
  return {};
}

sys::Result<sys::Fd>
connect_to(const std::string& path)
{
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return sys::fail("socket path too long: " + path, ENAMETOOLONG);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  sys::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    return sys::fail_sys("socket", path);
  }
  // Non-blocking: a full queue is EAGAIN at once, not a wait.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return sys::fail_sys("connect", path);
  }
  return fd;
}

sys::Result<Answer>
call_one(const std::string& socket_path, const Request& r, std::chrono::milliseconds timeout)
{
  auto fd = connect_to(socket_path);
  if (!fd) {
    return std::unexpected(fd.error());
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // An agent that refuses the peer answers and closes before it read the
  // request (EPIPE here): its answer is read all the same.
  if (auto w = write_all(fd->get(), encode(r), deadline); !w && w.error().code != EPIPE) {
    return std::unexpected(w.error());
  }
  ::shutdown(fd->get(), SHUT_WR);
  auto bytes = read_all(fd->get(), k_max_answer + 4096, deadline);
  if (!bytes) {
    return std::unexpected(bytes.error());
  }
  return decode_answer(*bytes);
}

void
merge(Answer& into, Answer&& a)
{
  // The worst outcome wins: error > busy > failed > queued > ok.
  auto rank = [](Outcome o) {
    switch (o) {
    case Outcome::ok:
      return 0;
    case Outcome::queued:
      return 1;
    case Outcome::failed:
      return 2;
    case Outcome::busy:
      return 3;
    case Outcome::error:
      return 4;
    }
    return 4;
  };
  if (rank(a.outcome) > rank(into.outcome)) {
    into.outcome = a.outcome;
  }
  for (auto& [name, n] : a.counts) {
    auto it = std::find_if(into.counts.begin(), into.counts.end(), [&](const auto& c) { return c.first == name; });
    if (it == into.counts.end()) {
      into.counts.emplace_back(name, n);
    } else {
      it->second += n;
    }
  }
  for (auto* list : {&a.failures, &a.text, &a.errors}) {
    auto& to = list == &a.failures ? into.failures : list == &a.text ? into.text : into.errors;
    to.insert(to.end(), std::make_move_iterator(list->begin()), std::make_move_iterator(list->end()));
  }
}

}  // namespace

std::string_view
verb_name(Verb v)
{
  for (const auto& [verb, name] : k_verbs) {
    if (verb == v) {
      return name;
    }
  }
  return "?";
}

std::optional<Verb>
parse_verb(std::string_view name)
{
  for (const auto& [verb, n] : k_verbs) {
    if (n == name) {
      return verb;
    }
  }
  return std::nullopt;
}

std::string_view
outcome_name(Outcome o)
{
  for (const auto& [outcome, name] : k_outcomes) {
    if (outcome == o) {
      return name;
    }
  }
  return "error";
}

std::string
encode(const Request& r)
{
  std::string out;
  auto field = [&out](std::string_view f) {
    out += f;
    out += '\0';
  };
  field(k_magic);
  field(verb_name(r.verb));
  if (r.wait) {
    field("wait");
  }
  if (!r.db.empty()) {
    field("db=" + r.db);
  }
  if (!r.cwd.empty()) {
    field("cwd=" + r.cwd);
  }
  field("--");
  for (const auto& a : r.args) {
    field(a);
  }
  return out;
}

sys::Result<Request>
decode_request(std::string_view bytes)
{
  auto fields = split_fields(bytes);
  if (!fields) {
    return std::unexpected(fields.error());
  }
  const auto& f = *fields;
  if (f.empty() || f[0] != k_magic) {
    return sys::fail("the request does not start with \"" + std::string(k_magic) + "\"");
  }
  if (f.size() < 2 || !parse_verb(f[1])) {
    return sys::fail("field 2 is no verb (release, release-packages, dpkg-release, unify, sync, status)");
  }
  Request r;
  r.verb = *parse_verb(f[1]);
  std::size_t i = 2;
  for (; i < f.size() && f[i] != "--"; ++i) {
    if (auto ok = apply_option(r, f[i], i); !ok) {
      return std::unexpected(ok.error());
    }
  }
  if (i == f.size()) {
    return sys::fail("the request has no \"--\" field before its arguments");
  }
  for (++i; i < f.size(); ++i) {
    if (f[i].empty()) {
      return sys::fail("argument field " + std::to_string(i + 1) + " is empty");
    }
    r.args.emplace_back(f[i]);
  }
  return r;
}

std::vector<Request>
chunk(const Request& r)
{
  Request head = r;
  head.args.clear();
  const std::size_t base = encode(head).size();
  std::vector<Request> out{head};
  std::size_t size = base;
  for (const auto& a : r.args) {
    if (!out.back().args.empty()
        && (size + encoded_size(a) > k_max_request || out.back().args.size() + 8 > k_max_fields)) {
      out.push_back(head);
      size = base;
    }
    out.back().args.push_back(a);
    size += encoded_size(a);
  }
  return out;
}

std::string
one_line(std::string_view message)
{
  std::string out(message.substr(0, 4096));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = '?';
    }
  }
  return out;
}

std::string
encode(const Answer& a)
{
  std::string out = std::string(k_magic) + " " + std::string(outcome_name(a.outcome)) + "\n";
  std::size_t left_out = 0;
  auto line = [&](std::string_view kind, std::string_view text) {
    std::string l = std::string(kind) + " " + one_line(text) + "\n";
    if (out.size() + l.size() + 64 > k_max_answer) {
      ++left_out;
      return;
    }
    out += l;
  };
  for (const auto& [name, n] : a.counts) {
    line("count", one_line(name) + " " + std::to_string(n));
  }
  for (const auto& f : a.failures) {
    line("fail", f);
  }
  for (const auto& t : a.text) {
    line("text", t);
  }
  for (const auto& e : a.errors) {
    line("error", e);
  }
  if (left_out) {
    out += "error " + std::to_string(left_out) + " more lines left out\n";
  }
  return out;
}

sys::Result<Answer>
decode_answer(std::string_view bytes)
{
  Answer a;
  bool first = true;
  while (!bytes.empty()) {
    const auto nl = bytes.find('\n');
    if (nl == std::string_view::npos) {
      return sys::fail("the agent's answer ends without a newline");
    }
    const std::string_view line = bytes.substr(0, nl);
    bytes.remove_prefix(nl + 1);
    const auto sp = line.find(' ');
    const std::string_view kind = line.substr(0, sp);
    const std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    if (first) {
      first = false;
      const auto o =
        std::find_if(k_outcomes.begin(), k_outcomes.end(), [&](const auto& p) { return p.second == rest; });
      if (kind != k_magic || o == k_outcomes.end()) {
        return sys::fail("the answer does not start with \"" + std::string(k_magic) + " OUTCOME\"");
      }
      a.outcome = o->first;
    } else if (kind == "count") {
      const auto sp2 = rest.rfind(' ');
      std::uint64_t n = 0;
      if (sp2 == std::string_view::npos
          || std::from_chars(rest.data() + sp2 + 1, rest.data() + rest.size(), n).ec != std::errc{}) {
        return sys::fail("a count line of the answer has no number");
      }
      a.counts.emplace_back(std::string(rest.substr(0, sp2)), n);
    } else if (kind == "fail") {
      a.failures.emplace_back(rest);
    } else if (kind == "text") {
      a.text.emplace_back(rest);
    } else if (kind == "error") {
      a.errors.emplace_back(rest);
    }  // other kinds: from a later agent; left out
  }
  if (first) {
    return sys::fail("the agent closed the connection without an answer");
  }
  return a;
}

std::string
client_socket_path()
{
  const char* env = std::getenv("PKGUNIFY_AGENT_SOCKET");
  return env && *env ? env : "/run/pkgunify/agent.sock";
}

sys::Result<Answer>
call(const std::string& socket_path, const Request& r, std::chrono::milliseconds timeout)
{
  std::optional<Answer> merged;
  for (const auto& part : chunk(r)) {
    auto a = call_one(socket_path, part, timeout);
    if (!a) {
      if (!merged) {
        return a;
      }
      merged->outcome = Outcome::error;
      merged->errors.push_back(a.error().message);
      return *merged;
    }
    if (!merged) {
      merged = std::move(*a);
    } else {
      merge(*merged, std::move(*a));
    }
  }
  return *merged;
}

}  // namespace pkgunify::agent
