// SPDX-License-Identifier: GPL-2.0-or-later
// The protocol between a guest and the host's `pkgunify agent`
// (docs/guests.md, "The protocol"): one request per connection on the
// guest's socket, one answer, then the agent closes it.
//
// A request is NUL-terminated fields, ended by the client shutting down
// its side for writing:
//
//   pkgunify-agent/1 \0 VERB \0 [OPTION \0]... -- \0 [ARGUMENT \0]...
//
// VERB: release (ARGUMENTS: absolute paths inside the guest),
// release-packages (installed package names, or .deb/.rpm files inside the
// guest), dpkg-release (the argument vector of a dpkg run, for its pre-invoke
// hook; option cwd=DIR: its working directory), unify (hook records,
// guest/hook_records.hpp: "F/path", "C/path"), sync, status. OPTION: wait
// (unify, sync: answer when done, not when queued), db=dpkg|rpm (sync),
// cwd=PATH (dpkg-release).
//
// The answer is lines: "pkgunify-agent/1 OUTCOME", then "count NAME N",
// "fail MESSAGE" (one per file that failed), "text LINE" (status) and
// "error MESSAGE" lines. Messages carry no control characters.
//
// This header and its .cpp are all a client needs (the pkgunify-guest
// command, the rpm plugin in guest mode): libc and the standard library.
#pragma once

#include "sys/error.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pkgunify::agent {

inline constexpr std::string_view k_magic = "pkgunify-agent/1";
// Bounds of a request: the agent refuses anything larger, and clients split
// long lists into several requests (chunk()).
inline constexpr std::size_t k_max_request = std::size_t{1} << 20;
inline constexpr std::size_t k_max_fields = 16384;
inline constexpr std::size_t k_max_field = 4097;  // PATH_MAX and a record's letter
// An answer longer than this is cut (the agent sends at most this much).
inline constexpr std::size_t k_max_answer = std::size_t{256} << 10;

enum class Verb { release, release_packages, dpkg_release, unify, sync, status };

std::string_view verb_name(Verb v);
std::optional<Verb> parse_verb(std::string_view name);

struct Request
{
  Verb verb = Verb::status;
  bool wait = false;
  std::string db;   // sync: dpkg, rpm; empty: what the guest has
  std::string cwd;  // dpkg-release: the directory relative .deb paths start from
  std::vector<std::string> args;
};

std::string encode(const Request& r);
// Parses a complete request; the error says what is wrong ("field 3 ...").
sys::Result<Request> decode_request(std::string_view bytes);

// Splits `r`'s arguments into requests that each stay within the bounds.
std::vector<Request> chunk(const Request& r);

enum class Outcome {
  ok,      // done, nothing failed
  failed,  // done, some files failed (the fail lines say which)
  queued,  // accepted, done later (unify, sync without wait)
  busy,    // refused for now: too many requests of this guest
  error,   // refused: a bad request, or the guest is not served here
};

std::string_view outcome_name(Outcome o);

struct Answer
{
  Outcome outcome = Outcome::error;
  std::vector<std::pair<std::string, std::uint64_t>> counts;
  std::vector<std::string> failures;
  std::vector<std::string> text;
  std::vector<std::string> errors;
};

// Encodes at most k_max_answer bytes: lines beyond it are left out and a
// last "error" line says how many.
std::string encode(const Answer& a);
sys::Result<Answer> decode_answer(std::string_view bytes);

// A message as one safe line: control characters become '?', at most 4096
// bytes.
std::string one_line(std::string_view message);

// The socket a client in a guest uses: $PKGUNIFY_AGENT_SOCKET, else
// /run/pkgunify/agent.sock (the guest's directory of the host's runtime
// directory, bind-mounted there).
std::string client_socket_path();

// Sends `r` (chunked when long; answers are merged) and waits for the
// answers, at most `timeout` for each. An error when the agent cannot be
// reached (code ENOENT, ECONNREFUSED, EAGAIN: none listening, or its queue
// is full) or does not answer in time (ETIMEDOUT).
sys::Result<Answer> call(const std::string& socket_path, const Request& r, std::chrono::milliseconds timeout);

}  // namespace pkgunify::agent
