// SPDX-License-Identifier: AGPL-3.0-or-later
// The plugins' one YAML reader: an operator's YAML (or JSON) file — a policy,
// a config, a spec, a template — into JSON, by one documented rule set (see
// yaml_to_json) and with a budget: yaml-cpp keeps alias bombs as shared nodes
// and expanding them would explode, and deep nesting throws a misleading
// error, so nodes, string bytes and depth are bounded (YamlLimits; files up to
// 4 MiB) and every failure is one dihya::Error line naming the file and line.
// The host reads parameter files with its own event-based reader
// (host/src/params/json_input.cpp), with the scalar resolvers below.
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
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
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

// The scalars of the YAML 1.2 core schema, one resolver each; nullopt when
// `text` is not one. The host's parameter reader (host/src/params/json_input.cpp)
// uses the same functions for plain scalars and for !!int, !!float, !!bool and
// !!null tags, so a value means the same in a parameter file and in a plugin's.

inline bool is_decimal_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_octal_digit(char c) { return c >= '0' && c <= '7'; }
inline bool is_hex_digit(char c) { return is_decimal_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

inline bool all_of_chars(std::string_view text, bool (*pred)(char)) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!pred(c)) return false;
  }
  return true;
}

inline std::optional<nlohmann::json> core_null(std::string_view text) {
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nlohmann::json(nullptr);
  return std::nullopt;
}

inline std::optional<nlohmann::json> core_bool(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return nlohmann::json(true);
  if (text == "false" || text == "False" || text == "FALSE") return nlohmann::json(false);
  return std::nullopt;
}

// [-+]?[0-9]+, 0o[0-7]+, 0x[0-9a-fA-F]+. Decimal ones too large for 64 bits
// become numbers, as they would in JSON.
inline std::optional<nlohmann::json> core_int(std::string_view text) {
  bool negative = false;
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'o')) {
    base = digits[1] == 'x' ? 16 : 8;
    digits.remove_prefix(2);
    if (text.front() == '-' || text.front() == '+') return std::nullopt;  // the core schema has no signed hex/octal
    if (!all_of_chars(digits, base == 16 ? is_hex_digit : is_octal_digit)) return std::nullopt;
  } else if (!all_of_chars(digits, is_decimal_digit)) {
    return std::nullopt;
  }
  std::uint64_t magnitude = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (error != std::errc() || end != digits.data() + digits.size()) {
    if (base != 10) return std::nullopt;
    double value = 0;
    const auto [fend, ferror] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ferror != std::errc() || fend != digits.data() + digits.size()) return std::nullopt;
    return nlohmann::json(negative ? -value : value);
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (!negative) {
    if (magnitude <= kMax) return nlohmann::json(static_cast<std::int64_t>(magnitude));
    return nlohmann::json(magnitude);
  }
  if (magnitude <= kMax) return nlohmann::json(-static_cast<std::int64_t>(magnitude));
  if (magnitude == kMax + 1) return nlohmann::json(std::numeric_limits<std::int64_t>::min());
  return nlohmann::json(-static_cast<double>(magnitude));
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? -- .inf and .nan are
// left out on purpose (JSON has no way to hold them), and so is what
// overflows a double (1e999).
inline std::optional<nlohmann::json> core_float(std::string_view text) {
  std::string_view rest = text;
  if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) rest.remove_prefix(1);
  std::size_t i = 0;
  std::size_t digits = 0;
  const auto skip_digits = [&rest, &i] {
    const std::size_t start = i;
    while (i < rest.size() && is_decimal_digit(rest[i])) ++i;
    return i - start;
  };
  digits += skip_digits();
  if (i < rest.size() && rest[i] == '.') {
    ++i;
    digits += skip_digits();
  }
  if (digits == 0) return std::nullopt;
  if (i < rest.size() && (rest[i] == 'e' || rest[i] == 'E')) {
    ++i;
    if (i < rest.size() && (rest[i] == '-' || rest[i] == '+')) ++i;
    if (skip_digits() == 0) return std::nullopt;
  }
  if (i != rest.size()) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (error != std::errc() || end != rest.data() + rest.size() || !std::isfinite(value)) return std::nullopt;
  return nlohmann::json(text.front() == '-' ? -value : value);
}

// A plain scalar by the YAML 1.2 core schema: null (~, null, Null, NULL,
// empty), booleans (true/True/TRUE, false/False/FALSE), integers (decimal,
// 0o octal, 0x hex; 64-bit, larger decimal ones become numbers), floats
// (finite ones; .inf and .nan stay strings: JSON has neither). Anything else
// (yes, on, 1.2.3, -0x1F) is a string.
inline nlohmann::json plain_scalar(const std::string& s) {
  if (auto value = core_null(s)) return *value;
  if (auto value = core_bool(s)) return *value;
  if (auto value = core_int(s)) return *value;
  if (auto value = core_float(s)) return *value;
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
