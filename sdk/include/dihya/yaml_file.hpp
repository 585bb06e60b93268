// SPDX-License-Identifier: AGPL-3.0-or-later
// The plugins' one YAML reader: an operator's YAML (or JSON) file — a policy,
// a config, a spec, a template — into JSON, by one documented rule set (see
// yaml_to_json) and with a budget: yaml-cpp keeps alias bombs as shared nodes
// and expanding them would explode, and deep nesting throws a misleading
// error, so nodes, string bytes and depth are bounded (YamlLimits; files up to
// 4 MiB) and every failure is one dihya::Error line naming the file and line.
// The host reads parameter files with its own event-based reader
// (host/src/params/json_input.cpp), by the same scalar rules.
// Header-only; a plugin that includes it links yaml-cpp.
#pragma once

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>

#include <dihya/error.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace dihya {

// What a document may cost once aliases are expanded. The defaults suit an
// operator's policy or config file; a caller reading bigger documents (a
// template) passes its own.
struct YamlLimits {
  std::size_t max_nodes = 100000;
  std::size_t max_string_bytes = 8u << 20;  // all scalars, an alias counted each time it is used
  int max_depth = 64;
};

namespace yaml_detail {

struct Budget {
  std::size_t nodes;
  std::size_t bytes;
};

// [-+]?[0-9]+ from `i`; returns the end, or `i` when there are no digits.
inline std::size_t digits_end(const std::string& s, std::size_t i) {
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i;
}

inline bool is_core_int(const std::string& s) {
  const std::size_t start = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  return digits_end(s, start) == s.size() && s.size() > start;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
inline bool is_core_float(const std::string& s) {
  std::size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size() && s[i] == '.') {
    const std::size_t end = digits_end(s, i + 1);
    if (end == i + 1) return false;
    i = end;
  } else {
    const std::size_t end = digits_end(s, i);
    if (end == i) return false;
    i = end;
    if (i < s.size() && s[i] == '.') i = digits_end(s, i + 1);
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
    const std::size_t end = digits_end(s, j);
    if (end == j) return false;
    i = end;
  }
  return i == s.size();
}

// A plain scalar by the YAML 1.2 core schema: null (~, null, Null, NULL,
// empty), booleans (true/True/TRUE, false/False/FALSE), integers (64-bit;
// larger ones become numbers), floats (finite ones; .inf and .nan stay
// strings: JSON has neither). Anything else (yes, on, 0x1F, 1.2.3) is a string.
inline nlohmann::json plain_scalar(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (is_core_int(s)) {
    const bool negative = s[0] == '-';
    const std::size_t skip = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    std::uint64_t v = 0;
    const auto r = std::from_chars(s.data() + skip, s.data() + s.size(), v);
    if (r.ec == std::errc()) {
      if (!negative) return v;
      if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return -static_cast<std::int64_t>(v);
      if (v == static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) {
        return std::numeric_limits<std::int64_t>::min();
      }
    }
  }
  if (is_core_float(s)) {
    std::string normal = s[0] == '+' ? s.substr(1) : s;
    const bool negative = !normal.empty() && normal[0] == '-';
    if (negative) normal.erase(0, 1);
    if (normal[0] == '.') normal.insert(0, "0");
    double d = 0;
    const auto r = std::from_chars(normal.data(), normal.data() + normal.size(), d);
    if (r.ec == std::errc() && std::isfinite(d)) return negative ? -d : d;
  }
  return s;
}

inline std::string line_of(const YAML::Node& node) { return "line " + std::to_string(node.Mark().line + 1); }

inline nlohmann::json to_json(const YAML::Node& node, int depth, Budget& budget, const YamlLimits& limits) {
  if (depth > limits.max_depth) throw Error("nested more than " + std::to_string(limits.max_depth) + " levels");
  if (budget.nodes == 0) throw Error("more than " + std::to_string(limits.max_nodes) + " nodes (alias bomb?)");
  --budget.nodes;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      auto out = nlohmann::json::array();
      for (const auto& child : node) out.push_back(to_json(child, depth + 1, budget, limits));
      return out;
    }
    case YAML::NodeType::Map: {
      auto out = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) throw Error("a key is not a string (" + line_of(kv.first) + ")");
        const std::string& key = kv.first.Scalar();
        if (out.contains(key)) {
          throw Error("duplicate key " +
                      nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + " (" +
                      line_of(kv.first) + ")");
        }
        out[key] = to_json(kv.second, depth + 1, budget, limits);
      }
      return out;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& s = node.Scalar();
  if (s.size() > budget.bytes) {
    throw Error("more than " + std::to_string(limits.max_string_bytes) + " bytes of strings (alias bomb?)");
  }
  budget.bytes -= s.size();
  if (node.Tag() == "!") return s;  // quoted or block scalar: always a string
  if (node.Tag() == "?") return plain_scalar(s);
  if (node.Tag() == "tag:yaml.org,2002:str") return s;
  throw Error("tag " + node.Tag() + " is not supported (" + line_of(node) + ")");
}

// Parses without building anything: for counting documents.
class NoEvents final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// How many documents `text` holds, counting no further than two: YAML::LoadAll
// never returns on some hostile texts (",x" makes yaml-cpp 0.7 start an empty
// document at the same place forever).
inline int document_count(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  NoEvents none;
  int count = 0;
  while (count < 2 && parser.HandleNextDocument(none)) ++count;
  return count;
}

}  // namespace yaml_detail

// yaml-cpp's tree as JSON, by one rule set: scalars typed by the YAML 1.2 core
// schema (yaml_detail::plain_scalar), a quoted or block scalar always a
// string, `!!str` honoured and any other tag refused, a duplicate or
// non-string key refused with its line, and the limits charged as aliases
// expand. Throws dihya::Error "<what> (line N)".
inline nlohmann::json yaml_to_json(const YAML::Node& node, const YamlLimits& limits = {}) {
  yaml_detail::Budget budget{limits.max_nodes, limits.max_string_bytes};
  return yaml_detail::to_json(node, 0, budget, limits);
}

// A YAML document already read (`where` names it in errors) as JSON, by
// yaml_to_json()'s rules; exactly one document. Throws dihya::Error
// "<where>: <what>".
inline nlohmann::json load_yaml_text(const std::string& text, const std::string& where,
                                     const YamlLimits& limits = {}) {
  try {
    if (yaml_detail::document_count(text) > 1) throw dihya::Error("expected one YAML document, found more");
    return yaml_to_json(YAML::Load(text), limits);
  } catch (const YAML::DeepRecursion&) {
    throw dihya::Error(where + ": nested too deeply");
  } catch (const YAML::Exception& e) {
    const std::string at =
        e.mark.is_null() ? "" : ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw dihya::Error(where + at + ": invalid YAML: " + e.msg);
  } catch (const dihya::Error& e) {
    throw dihya::Error(where + ": " + e.what());
  }
}

// The document at `path` as JSON. Throws dihya::Error "<path>: <what>".
inline nlohmann::json load_yaml_file(const std::filesystem::path& path, const YamlLimits& limits = {}) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw dihya::Error(path.string() + ": not a readable file");
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw dihya::Error(path.string() + ": cannot be read: " + ec.message());
  if (size > 4 * 1024 * 1024) throw dihya::Error(path.string() + ": larger than 4 MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw dihya::Error(path.string() + ": cannot be read");
  // One byte more than announced: a file that grew meanwhile is noticed.
  std::string text(static_cast<std::size_t>(size) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (static_cast<std::uintmax_t>(in.gcount()) != size) throw dihya::Error(path.string() + ": changed while being read");
  text.resize(static_cast<std::size_t>(size));
  return load_yaml_text(text, path.string(), limits);
}

}  // namespace dihya
