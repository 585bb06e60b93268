// SPDX-License-Identifier: AGPL-3.0-or-later
#include "template_yaml.hpp"

#include <charconv>
#include <limits>
#include <regex>

#include <dihya/error.hpp>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

namespace import_templates {
namespace {

struct Budget {
  std::size_t nodes;
  std::size_t bytes;
};

// YAML 1.2 core schema, the subset JSON needs.
nlohmann::json plain_scalar(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(s, kInt)) {
    const bool negative = s[0] == '-';
    const std::size_t skip = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    std::uint64_t v = 0;
    const auto r = std::from_chars(s.data() + skip, s.data() + s.size(), v);
    if (r.ec == std::errc()) {
      if (!negative) return v;
      if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return -static_cast<std::int64_t>(v);
    }
  }
  if (std::regex_match(s, kFloat)) {
    std::string normal = s[0] == '+' ? s.substr(1) : s;
    const bool negative = !normal.empty() && normal[0] == '-';
    if (negative) normal.erase(0, 1);
    if (normal[0] == '.') normal.insert(0, "0");
    double d = 0;
    const auto r = std::from_chars(normal.data(), normal.data() + normal.size(), d);
    if (r.ec == std::errc() && d != std::numeric_limits<double>::infinity()) return negative ? -d : d;
  }
  return s;
}

nlohmann::json to_json(const YAML::Node& node, int depth, Budget& budget, const YamlLimits& limits) {
  if (depth > limits.max_depth) throw dihya::Error("nested more than " + std::to_string(limits.max_depth) + " levels");
  if (budget.nodes == 0) throw dihya::Error("more than " + std::to_string(limits.max_nodes) + " nodes (alias bomb?)");
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
        if (!kv.first.IsScalar()) throw dihya::Error("a key is not a string (line " + std::to_string(kv.first.Mark().line + 1) + ")");
        const std::string key = kv.first.Scalar();
        if (out.contains(key)) {
          throw dihya::Error("duplicate key " + nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
                             " (line " + std::to_string(kv.first.Mark().line + 1) + ")");
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
    throw dihya::Error("more than " + std::to_string(limits.max_string_bytes) + " bytes of strings (alias bomb?)");
  }
  budget.bytes -= s.size();
  if (node.Tag() == "!") return s;  // quoted or block scalar: always a string
  if (node.Tag() == "?") return plain_scalar(s);
  if (node.Tag() == "tag:yaml.org,2002:str") return s;
  throw dihya::Error("tag " + node.Tag() + " is not supported (line " + std::to_string(node.Mark().line + 1) + ")");
}

// ---- writer ---------------------------------------------------------------

std::string double_quoted(const std::string& s) {
  // JSON's escapes are YAML's; non-ASCII stays UTF-8.
  return nlohmann::json(s).dump();
}

bool needs_quotes(const std::string& s) {
  static const std::regex kPlain("[A-Za-z_][A-Za-z0-9_./-]*");
  if (!std::regex_match(s, kPlain)) return true;
  static const std::regex kSpecial("(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL)");
  return std::regex_match(s, kSpecial);
}

std::string key_text(const std::string& key) { return needs_quotes(key) ? double_quoted(key) : key; }

// A literal block reads back exactly when every line is printable (tabs are
// fine) and nothing YAML normalises (CR, NEL, LS, PS, BOM) is inside.
bool literal_block_ok(const std::string& s) {
  // Only newlines would be an empty block, which reads back as "".
  if (s.find('\n') == std::string::npos || s.find_first_not_of('\n') == std::string::npos) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n' || c == '\t') continue;
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x85) return false;  // NEL
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      return false;
    }
    if (c == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBB &&
        static_cast<unsigned char>(s[i + 2]) == 0xBF) {
      return false;
    }
  }
  return true;
}

void write_literal_block(std::string& out, const std::string& s, int indent) {
  std::size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  out += "|";
  if (s[0] == ' ' || s[0] == '\n') out += "2";  // explicit indentation when the first line cannot show it
  out += trailing == 0 ? "-" : trailing == 1 ? "" : "+";
  out += "\n";
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  const std::string body = s.substr(0, s.size() - (trailing > 0 ? 1 : 0));
  std::size_t start = 0;
  while (start <= body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    if (end > start) {
      out += pad;
      out.append(body, start, end - start);
    }
    out += "\n";
    start = end + 1;
  }
}

void write_scalar(std::string& out, const nlohmann::json& j, int indent) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (literal_block_ok(s)) {
      write_literal_block(out, s, indent);
      return;
    }
    out += needs_quotes(s) ? double_quoted(s) : s;
  } else if (j.is_number_float()) {
    // YAML 1.1 readers (PyYAML) take "1e+20" for a string: give every float a dot.
    std::string number = j.dump();
    if (number.find('.') == std::string::npos) {
      const auto e = number.find_first_of("eE");
      number.insert(e == std::string::npos ? number.size() : e, ".0");
    }
    out += number;
  } else {
    out += j.dump();  // integers, true, false, null
  }
  out += "\n";
}

void write_node(std::string& out, const nlohmann::json& j, int indent);

void write_entry_value(std::string& out, const nlohmann::json& value, int indent) {
  if (value.is_structured() && !value.empty()) {
    out += "\n";
    write_node(out, value, indent + 2);
  } else if (value.is_object()) {
    out += " {}\n";
  } else if (value.is_array()) {
    out += " []\n";
  } else {
    out += " ";
    write_scalar(out, value, indent);
  }
}

void write_node(std::string& out, const nlohmann::json& j, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      out += pad + key_text(key) + ":";
      write_entry_value(out, value, indent);
    }
  } else {
    for (const auto& value : j) {
      out += pad + "-";
      write_entry_value(out, value, indent);
    }
  }
}

}  // namespace

nlohmann::json parse_yaml_document(const std::string& text, const std::string& where, const YamlLimits& limits) {
  try {
    Budget budget{limits.max_nodes, limits.max_string_bytes};
    const auto docs = YAML::LoadAll(text);
    if (docs.size() != 1) throw dihya::Error("expected exactly one YAML document, found " + std::to_string(docs.size()));
    return to_json(docs[0], 0, budget, limits);
  } catch (const YAML::DeepRecursion&) {
    throw dihya::Error(where + ": nested too deeply");
  } catch (const YAML::Exception& e) {
    const std::string at = e.mark.is_null() ? "" : ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw dihya::Error(where + at + ": invalid YAML: " + e.msg);
  } catch (const dihya::Error& e) {
    throw dihya::Error(where + ": " + e.what());
  }
}

std::string write_yaml_document(const nlohmann::json& doc) {
  std::string out;
  if (!doc.is_structured() || doc.empty()) {
    // An empty document would read back as none at all.
    write_entry_value(out, doc, 0);
    return out.substr(1);
  }
  write_node(out, doc, 0);
  return out;
}

}  // namespace import_templates
