// SPDX-License-Identifier: AGPL-3.0-or-later
#include "template_yaml.hpp"

#include <charconv>
#include <limits>
#include <regex>

#include <dihya/error.hpp>
#include <dihya/yaml_file.hpp>

namespace import_templates {
namespace {

// ---- writer ---------------------------------------------------------------

constexpr std::size_t kMaxImplicitKey = 1000;  // bytes; the YAML limit is 1024 characters

// The escape of the character at s[i] (UTF-8, checked on import) if YAML
// readers cannot take it as it is, else "". DEL, the C1 controls and
// U+FFFE/U+FFFF are not printable: PyYAML and js-yaml refuse the file. NEL, LS
// and PS are line breaks to YAML 1.1 readers (a quoted scalar loses them and
// the spaces around them), and a BOM may be dropped. `*length`: its bytes.
std::string yaml_escape(const std::string& s, std::size_t i, std::size_t* length) {
  static const char* const kHex = "0123456789ABCDEF";
  const auto at = [&](std::size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  *length = 1;
  if (at(0) == 0x7F) return "\\x7F";
  if (at(0) == 0xC2 && at(1) >= 0x80 && at(1) <= 0x9F) {
    *length = 2;
    // NEL too: yaml-cpp reads "\N" as a lone byte 0x85, not UTF-8.
    return std::string("\\x") + kHex[at(1) >> 4] + kHex[at(1) & 0xF];
  }
  *length = 3;
  if (at(0) == 0xE2 && at(1) == 0x80 && at(2) == 0xA8) return "\\L";
  if (at(0) == 0xE2 && at(1) == 0x80 && at(2) == 0xA9) return "\\P";
  if (at(0) == 0xEF && at(1) == 0xBB && at(2) == 0xBF) return "\\uFEFF";
  if (at(0) == 0xEF && at(1) == 0xBF && at(2) == 0xBE) return "\\uFFFE";
  if (at(0) == 0xEF && at(1) == 0xBF && at(2) == 0xBF) return "\\uFFFF";
  *length = 1;
  return "";
}

std::string double_quoted(const std::string& s) {
  // JSON's escapes are YAML's; non-ASCII stays UTF-8 but for what YAML
  // readers cannot take as it is.
  const std::string json = nlohmann::json(s).dump();
  std::string out;
  out.reserve(json.size());
  for (std::size_t i = 0; i < json.size();) {
    std::size_t length = 1;
    const std::string escape = yaml_escape(json, i, &length);
    if (escape.empty()) {
      out += json[i];
    } else {
      out += escape;
    }
    i += length;
  }
  return out;
}

bool needs_quotes(const std::string& s) {
  static const std::regex kPlain("[A-Za-z_][A-Za-z0-9_./-]*");
  if (!std::regex_match(s, kPlain)) return true;
  static const std::regex kSpecial("(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL)");
  return std::regex_match(s, kSpecial);
}

std::string key_text(const std::string& key) { return needs_quotes(key) ? double_quoted(key) : key; }

// A literal block reads back exactly when every line is printable (tabs are
// fine) and nothing YAML normalises (CR, NEL, LS, PS, BOM) is inside: no
// character that would need an escape, which a block cannot hold.
bool literal_block_ok(const std::string& s) {
  // Only newlines would be an empty block, which reads back as "".
  if (s.find('\n') == std::string::npos || s.find_first_not_of('\n') == std::string::npos) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n' || c == '\t') continue;
    if (c < 0x20) return false;
    std::size_t length = 1;
    if (!yaml_escape(s, i, &length).empty()) return false;
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
      // YAML allows an implicit key of at most 1024 characters; a longer one is written explicit
      // ("? key" then ": value"), which every reader accepts.
      const std::string text = key_text(key);
      out += text.size() > kMaxImplicitKey ? pad + "? " + text + "\n" + pad + ":" : pad + text + ":";
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
  return dihya::load_yaml_text(text, where, limits);
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
