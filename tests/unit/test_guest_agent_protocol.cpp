// SPDX-License-Identifier: GPL-2.0-or-later
#include "guest/agent_protocol.hpp"
#include "sys/fd.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

using namespace pkgunify;
using namespace pkgunify::agent;
using namespace std::string_literals;

TEST(AgentProtocol, ARequestParsesBack)
{
  Request r;
  r.verb = Verb::dpkg_release;
  r.wait = true;
  r.cwd = "/root";
  r.args = {"dpkg", "-i", "demo_2.0_all.deb"};
  auto back = decode_request(encode(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->verb, Verb::dpkg_release);
  EXPECT_TRUE(back->wait);
  EXPECT_EQ(back->cwd, "/root");
  EXPECT_EQ(back->args, r.args);
  EXPECT_EQ(encode(r), "pkgunify-agent/1\0dpkg-release\0wait\0cwd=/root\0--\0dpkg\0-i\0demo_2.0_all.deb\0"s);
  r.cwd = "/";  // dpkg run from the guest's root directory
  auto top = decode_request(encode(r));
  ASSERT_TRUE(top) << top.error().message;
  EXPECT_EQ(top->cwd, "/");
}

TEST(AgentProtocol, MalformedRequestsSayWhat)
{
  auto err = [](std::string_view bytes) {
    auto r = decode_request(bytes);
    return r ? "no error"s : r.error().message;
  };
  EXPECT_EQ(err(""), "the request does not start with \"pkgunify-agent/1\"");
  EXPECT_EQ(err("GET / HTTP/1.0\r\n\r\n"), "field 1 is not NUL-terminated");
  EXPECT_EQ(err("pkgunify-agent/1\0rm-rf\0--\0"s), "field 2 is no verb (release, release-packages, dpkg-release, "
                                                   "unify, sync, status)");
  EXPECT_EQ(err("pkgunify-agent/1\0release\0/etc/shadow\0"s),
            "field 3 is no option (wait, db=dpkg, db=rpm, cwd=/PATH)");
  EXPECT_EQ(err("pkgunify-agent/1\0release\0"s), "the request has no \"--\" field before its arguments");
  EXPECT_EQ(err("pkgunify-agent/1\0release\0--\0\0"s), "argument field 4 is empty");
  EXPECT_EQ(err("pkgunify-agent/1\0release\0cwd=relative\0--\0"s),
            "field 3 is no option (wait, db=dpkg, db=rpm, cwd=/PATH)");
  EXPECT_EQ(err("pkgunify-agent/1\0release\0--\0"s + std::string(5000, 'x') + '\0'),
            "field 4 is longer than 4097 bytes");
  EXPECT_EQ(err(std::string(k_max_request + 1, '\0')), "the request is longer than 1048576 bytes");
  std::string many = "pkgunify-agent/1\0release\0--\0"s;
  for (std::size_t i = 0; i < k_max_fields; ++i) {
    many += "/a"s + '\0';
  }
  EXPECT_EQ(err(many), "the request has more than 16384 fields");
}

TEST(AgentProtocol, LongListsAreSplitIntoRequestsWithinTheBounds)
{
  Request r;
  r.verb = Verb::release;
  for (int i = 0; i < 40000; ++i) {
    r.args.push_back("/usr/lib/some/long/directory/name/file-number-" + std::to_string(i));
  }
  const auto parts = chunk(r);
  ASSERT_GT(parts.size(), 2u);
  std::vector<std::string> all;
  for (const auto& p : parts) {
    const std::string bytes = encode(p);
    auto back = decode_request(bytes);
    ASSERT_TRUE(back) << back.error().message;
    all.insert(all.end(), back->args.begin(), back->args.end());
  }
  EXPECT_EQ(all, r.args);
}

TEST(AgentProtocol, AnAnswerParsesBackWithControlCharactersMadeSafe)
{
  Answer a;
  a.outcome = Outcome::failed;
  a.counts = {{"released", 3}, {"failed", 1}};
  a.failures = {"/usr/bin/x\nerror forged line: Operation not permitted"};
  a.text = {"guest g1: 12 files unified"};
  auto back = decode_answer(encode(a));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->outcome, Outcome::failed);
  EXPECT_EQ(back->counts, a.counts);
  ASSERT_EQ(back->failures.size(), 1u);
  EXPECT_EQ(back->failures[0], "/usr/bin/x?error forged line: Operation not permitted");
  EXPECT_EQ(back->text, a.text);
  EXPECT_TRUE(back->errors.empty());
}

TEST(AgentProtocol, AnAnswerStaysWithinItsBound)
{
  Answer a;
  a.outcome = Outcome::failed;
  for (int i = 0; i < 10000; ++i) {
    a.failures.push_back("/usr/share/very/long/path/number/" + std::to_string(i) + ": Operation not permitted");
  }
  const std::string bytes = encode(a);
  EXPECT_LE(bytes.size(), k_max_answer);
  auto back = decode_answer(bytes);
  ASSERT_TRUE(back);
  ASSERT_EQ(back->errors.size(), 1u);
  EXPECT_EQ(back->errors[0], std::to_string(10000 - back->failures.size()) + " more lines left out");
}

TEST(AgentProtocol, GarbageAnswersAreErrors)
{
  EXPECT_FALSE(decode_answer(""));
  EXPECT_FALSE(decode_answer("HTTP/1.1 200 OK\n"));
  EXPECT_FALSE(decode_answer("pkgunify-agent/1 ok"));
  EXPECT_FALSE(decode_answer("pkgunify-agent/1 ok\ncount released x\n"));
}

// The client against a real listening socket: it sends the request, shuts
// down its side, and parses what comes back; a socket nobody listens on is
// an error with ENOENT or ECONNREFUSED.
TEST(AgentProtocol, CallTalksToAListeningSocket)
{
  char dir[] = "/tmp/pkgunify-unit.XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/agent.sock";
  sys::Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  std::string received;
  std::thread server([&] {
    sys::Fd c(::accept(listener.get(), nullptr, nullptr));
    char buf[4096];
    for (ssize_t n; (n = ::read(c.get(), buf, sizeof(buf))) > 0;) {
      received.append(buf, static_cast<std::size_t>(n));
    }
    Answer a;
    a.outcome = Outcome::ok;
    a.counts = {{"released", 1}};
    const std::string out = encode(a);
    (void)!::write(c.get(), out.data(), out.size());
  });
  Request r;
  r.verb = Verb::release;
  r.args = {"/usr/bin/demo-tool"};
  auto a = call(path, r, std::chrono::seconds(10));
  server.join();
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->outcome, Outcome::ok);
  EXPECT_EQ(received, encode(r));
  listener = sys::Fd();
  ::unlink(path.c_str());
  auto none = call(path, r, std::chrono::seconds(1));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ENOENT);
  ::rmdir(dir);
}
