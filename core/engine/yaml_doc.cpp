// SPDX-License-Identifier: GPL-2.0-or-later
#include "engine/internal/yaml_doc.hpp"

#include "sys/exceptions.hpp"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <sstream>

namespace pkgunify::yaml {

namespace {

// Counts the documents of a YAML stream, stopping at the second one.
// YAML::LoadAll of yaml-cpp 0.7 never returns on some malformed streams (a
// lone ",": its parser reports an endless series of empty documents, each
// one appended to the result until memory runs out; upstream issue 1040, fixed
// after 0.8), so the documents are counted with a bound before one is loaded.
class DocumentCounter : public YAML::EventHandler
{
public:
  void
  OnDocumentStart(const YAML::Mark& mark) override
  {
    if (++count == 2) {
      second = mark;
    }
  }
  void
  OnDocumentEnd() override
  {}
  void
  OnNull(const YAML::Mark& mark, YAML::anchor_t) override
  {
    node(mark);
  }
  void
  OnAlias(const YAML::Mark& mark, YAML::anchor_t) override
  {
    node(mark);
  }
  void
  OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override
  {
    node(mark);
  }
  void
  OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override
  {
    node(mark);
  }
  void
  OnSequenceEnd() override
  {}
  void
  OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override
  {
    node(mark);
  }
  void
  OnMapEnd() override
  {}

  int count = 0;
  YAML::Mark second;  // where the second document's root node starts

private:
  void
  node(const YAML::Mark& mark)
  {
    if (count == 2 && !second_node) {
      second = mark;
      second_node = true;
    }
  }
  bool second_node = false;
};

}  // namespace

std::string
located(std::string_view source, const YAML::Mark& mark, std::string_view message)
{
  std::string result(source);
  if (!mark.is_null()) {
    result += ':';
    result += std::to_string(mark.line + 1);
    result += ':';
    result += std::to_string(mark.column + 1);
  }
  result += ": ";
  result += message;
  return result;
}

bool
is_quoted(const YAML::Node& node)
{
  // yaml-cpp tags plain scalars "?" and quoted ones "!".
  return node.IsScalar() && node.Tag() == "!";
}

std::string
describe(const YAML::Node& node)
{
  switch (node.Type()) {
  case YAML::NodeType::Undefined:
  case YAML::NodeType::Null:
    return "an empty value";
  case YAML::NodeType::Sequence:
    return "a sequence";
  case YAML::NodeType::Map:
    return "a mapping";
  case YAML::NodeType::Scalar:
    break;
  }
  std::string result = is_quoted(node) ? "the quoted string '" : "'";
  result += node.Scalar();
  result += '\'';
  return result;
}

std::optional<YAML::Node>
read_document(std::string_view text, std::string_view source)
{
  try {
    const std::string input(text);
    std::istringstream stream(input);
    YAML::Parser parser(stream);
    DocumentCounter counter;
    while (counter.count < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.count > 1) {
      throw ConfigError(located(source, counter.second, "expected a single YAML document"));
    }
    if (counter.count == 0) {
      return std::nullopt;
    }
    return YAML::Load(input);
  } catch (const YAML::Exception& e) {
    throw ConfigError(located(source, e.mark, e.msg));
  }
}

void
check_not_seen(SeenKeys& seen, const YAML::Node& key, std::string_view source)
{
  const std::string& name = key.Scalar();
  const auto previous = std::find_if(seen.begin(), seen.end(), [&](const auto& item) { return item.first == name; });
  if (previous != seen.end()) {
    throw ConfigError(located(source, key.Mark(),
                              "duplicate key '" + name + "' (first on line " + std::to_string(previous->second) + ")"));
  }
  seen.emplace_back(name, key.Mark().line + 1);
}

}  // namespace pkgunify::yaml
