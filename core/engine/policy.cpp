// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/policy.hpp"

#include "engine/internal/yaml_doc.hpp"
#include "sys/exceptions.hpp"
#include "sys/fd.hpp"
#include "sys/read.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <utility>

namespace pkgunify {

namespace {

// True for "/etc" and everything below it.
bool
is_under_etc(std::string_view path)
{
  const auto start = path.find_first_not_of('/');
  if (start == std::string_view::npos) {
    return false;
  }
  const auto rest = path.substr(start);
  return rest.starts_with("etc") && (rest.size() == 3 || rest[3] == '/');
}

// One "key: value" pair of the policy file, handed to a key's handler.
class Item
{
public:
  Item(std::string_view source, const YAML::Node& key, const YAML::Node& value)
    : m_source(source)
    , m_key(key)
    , m_value(value)
  {}

  [[nodiscard]] const YAML::Node&
  value() const
  {
    return m_value;
  }

  // Throws "SOURCE:LINE:COLUMN: KEY: message" located at `node`.
  [[noreturn]] void
  fail_at(const YAML::Node& node, std::string_view message) const
  {
    // An empty value has no position of its own (yaml-cpp gives the next
    // token's); point at the key instead.
    const YAML::Mark mark = node.IsNull() ? m_key.Mark() : node.Mark();
    std::string text = m_key.Scalar();
    text += ": ";
    text += message;
    throw ConfigError(yaml::located(m_source, mark, text));
  }

  [[noreturn]] void
  fail(std::string_view message) const
  {
    fail_at(m_value, message);
  }

  [[noreturn]] void
  fail_expected(std::string_view expected) const
  {
    fail_at(m_value, "expected " + std::string(expected) + ", got " + yaml::describe(m_value));
  }

  // The value as a string; any scalar will do.
  [[nodiscard]] const std::string&
  string(std::string_view expected) const
  {
    if (!m_value.IsScalar()) {
      fail_expected(expected);
    }
    return m_value.Scalar();
  }

  // Fails unless the value is an unquoted scalar, as numbers and booleans
  // must be: "16" is a string in YAML.
  void
  require_plain_scalar(std::string_view expected) const
  {
    if (!m_value.IsScalar() || yaml::is_quoted(m_value)) {
      fail_expected(expected);
    }
  }

private:
  std::string_view m_source;
  const YAML::Node& m_key;
  const YAML::Node& m_value;
};

void
set_store(Policy& policy, const Item& item)
{
  const std::string& value = item.string("an absolute path");
  if (value.empty() || value.front() != '/') {
    item.fail_expected("an absolute path");
  }
  policy.store = value;
}

std::uint64_t
parse_size(const Item& item)
{
  constexpr std::string_view expected = "a non-negative integer";
  item.require_plain_scalar(expected);
  const std::string& value = item.value().Scalar();
  if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    item.fail_expected(expected);
  }
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t number = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (ec == std::errc::result_out_of_range || number > max) {
    item.fail("value '" + value + "' is too large (maximum " + std::to_string(max) + ")");
  }
  if (ec != std::errc() || end != value.data() + value.size()) {
    item.fail_expected(expected);
  }
  return number;
}

bool
parse_bool(const Item& item)
{
  constexpr std::string_view expected = "true or false";
  item.require_plain_scalar(expected);
  bool value = false;
  if (!YAML::convert<bool>::decode(item.value(), value)) {
    item.fail_expected(expected);
  }
  return value;
}

CreateMode
parse_create(const Item& item)
{
  const std::string expected = k_create_mode_names.quoted_list();
  const auto mode = k_create_mode_names.parse(item.string(expected));
  if (!mode) {
    item.fail_expected(expected);
  }
  return *mode;
}

bool
any_link_mode(LinkMode /*mode*/)
{
  return true;
}

// The fallback of `auto` on a mainline kernel: never auto or iunlink.
bool
valid_fallback(LinkMode mode)
{
  return mode != LinkMode::auto_select && mode != LinkMode::iunlink;
}

// A link mode that `accept` takes.
LinkMode
parse_link(const Item& item, bool (*accept)(LinkMode))
{
  const std::string expected = k_link_mode_names.quoted_list(accept);
  const auto mode = parse_link_mode(item.string(expected));
  if (!mode || !accept(*mode)) {
    item.fail_expected(expected);
  }
  return *mode;
}

void
set_patterns(const Item& item, std::vector<std::string>& patterns, std::vector<Glob>& globs)
{
  const YAML::Node& value = item.value();
  if (!value.IsSequence()) {
    item.fail_expected("a sequence of patterns");
  }
  std::vector<std::string> new_patterns;
  std::vector<Glob> new_globs;
  for (const auto& element : value) {
    if (!element.IsScalar()) {
      item.fail_at(element, "expected a pattern, got " + yaml::describe(element));
    }
    auto glob = Glob::compile(element.Scalar());
    if (!glob) {
      item.fail_at(element, glob.error().message);
    }
    new_patterns.push_back(element.Scalar());
    new_globs.push_back(std::move(*glob));
  }
  patterns = std::move(new_patterns);
  globs = std::move(new_globs);
}

using Handler = void (*)(Policy& policy, const Item& item);

struct KeyHandler
{
  std::string_view name;
  Handler handler;
};

// Every key a policy file may contain.
constexpr std::array k_keys{
  KeyHandler{"create", [](Policy& policy, const Item& item) { policy.create = parse_create(item); }},
  KeyHandler{"exclude",
             [](Policy& policy, const Item& item) { set_patterns(item, policy.exclude, policy.exclude_globs); }},
  KeyHandler{"hook_create", [](Policy& policy, const Item& item) { policy.hook_create = parse_create(item); }},
  KeyHandler{"ignore_mtime", [](Policy& policy, const Item& item) { policy.ignore_mtime = parse_bool(item); }},
  KeyHandler{"include",
             [](Policy& policy, const Item& item) { set_patterns(item, policy.include, policy.include_globs); }},
  KeyHandler{"link", [](Policy& policy, const Item& item) { policy.link = parse_link(item, any_link_mode); }},
  KeyHandler{"link_fallback",
             [](Policy& policy, const Item& item) { policy.link_fallback = parse_link(item, valid_fallback); }},
  KeyHandler{"max_size", [](Policy& policy, const Item& item) { policy.max_size = parse_size(item); }},
  KeyHandler{"min_size", [](Policy& policy, const Item& item) { policy.min_size = parse_size(item); }},
  KeyHandler{"only_packaged", [](Policy& policy, const Item& item) { policy.only_packaged = parse_bool(item); }},
  KeyHandler{"store", set_store},
  KeyHandler{"trusted_roots", [](Policy& policy, const Item& item) { policy.trusted_roots = parse_bool(item); }},
};

const KeyHandler*
find_key(std::string_view name)
{
  const auto it = std::find_if(k_keys.begin(), k_keys.end(), [&](const KeyHandler& key) { return key.name == name; });
  return it == k_keys.end() ? nullptr : &*it;
}

std::vector<Glob>
compile_patterns(const std::vector<std::string>& patterns, std::string_view source, std::string_view key)
{
  std::vector<Glob> globs;
  globs.reserve(patterns.size());
  for (const auto& pattern : patterns) {
    auto glob = Glob::compile(pattern);
    if (!glob) {
      std::string message(source);
      message += ": ";
      message += key;
      message += ": ";
      message += glob.error().message;
      throw ConfigError(message);
    }
    globs.push_back(std::move(*glob));
  }
  return globs;
}

}  // namespace

void
Policy::compile()
{
  auto new_exclude = compile_patterns(exclude, source, "exclude");
  auto new_include = compile_patterns(include, source, "include");
  exclude_globs = std::move(new_exclude);
  include_globs = std::move(new_include);
}

bool
Policy::excludes(std::string_view path) const
{
  if (is_under_etc(path)) {
    return true;
  }
  const auto matches = [&](const Glob& glob) { return glob.matches(path); };
  return std::any_of(exclude_globs.begin(), exclude_globs.end(), matches)
         && std::none_of(include_globs.begin(), include_globs.end(), matches);
}

std::optional<std::string>
Policy::why_excluded(std::string_view path) const
{
  if (is_under_etc(path)) {
    return "/etc is always private";
  }
  const auto matches = [&](const Glob& glob) { return glob.matches(path); };
  if (std::any_of(include_globs.begin(), include_globs.end(), matches)) {
    return std::nullopt;
  }
  const auto it = std::find_if(exclude_globs.begin(), exclude_globs.end(), matches);
  if (it == exclude_globs.end()) {
    return std::nullopt;
  }
  return "excluded by '" + it->pattern() + "'";
}

bool
Policy::prunes(std::string_view dir) const
{
  if (is_under_etc(dir)) {
    return true;
  }
  // Only patterns matter, not whether `dir` itself is excluded: an exclude
  // of "/var" matches that one path, not the files below it. Every path
  // below must match an exclude and none may match an include.
  return std::any_of(exclude_globs.begin(), exclude_globs.end(),
                     [&](const Glob& glob) { return glob.matches_all_below(dir); })
         && std::none_of(include_globs.begin(), include_globs.end(),
                         [&](const Glob& glob) { return glob.may_match_below(dir); });
}

Policy
default_policy()
{
  static const Policy policy = [] {
    Policy result;
    result.exclude = {
      "/etc/**", "/var/**", "/home/**", "/root/**", "/tmp/**", "/run/**", "/boot/**",
    };
    result.compile();
    return result;
  }();
  return policy;
}

namespace {

// Hands each "key: value" of the mapping `root` to its key's handler.
void
apply_keys(Policy& policy, const YAML::Node& root, std::string_view source)
{
  yaml::SeenKeys seen;
  for (const auto& entry : root) {
    const YAML::Node& key = entry.first;
    if (!key.IsScalar()) {
      throw ConfigError(yaml::located(source, key.Mark(), "expected a key name, got " + yaml::describe(key)));
    }
    yaml::check_not_seen(seen, key, source);
    const KeyHandler* handler = find_key(key.Scalar());
    if (!handler) {
      throw ConfigError(yaml::located(source, key.Mark(), "unknown key '" + key.Scalar() + "'"));
    }
    handler->handler(policy, Item(source, key, entry.second));
  }
}

}  // namespace

Policy
parse_policy(std::string_view text, std::string_view source)
{
  const std::optional<YAML::Node> document = yaml::read_document(text, source);
  Policy policy = default_policy();
  policy.source = source;
  if (!document || document->IsNull()) {
    return policy;
  }
  if (!document->IsMap()) {
    throw ConfigError(
      yaml::located(source, document->Mark(), "expected a mapping of keys, got " + yaml::describe(*document)));
  }
  apply_keys(policy, *document, source);
  return policy;
}

Policy
load_policy(const std::string& path)
{
  const auto cannot_read = [&](int error) {
    return ConfigError(path + ": cannot read policy: " + std::strerror(error));
  };

  sys::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    throw cannot_read(errno);
  }
  // A policy is a page of YAML; a file this large is a mistake, and reading
  // it whole would cost as much memory.
  constexpr std::size_t k_max_policy_size = 1 << 20;
  auto text = sys::read_small_file(fd.get(), k_max_policy_size, path);
  if (!text) {
    if (text.error().code != EINVAL && text.error().code != EFBIG) {
      throw cannot_read(text.error().code);
    }
    throw ConfigError(path + ": cannot read policy: " + text.error().message);
  }
  return parse_policy(*text, path);
}

}  // namespace pkgunify
