// SPDX-License-Identifier: AGPL-3.0-or-later
#include "js_literal.hpp"

#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include <dihya/error.hpp>

namespace import_templates {

std::string line_column(std::string_view text, std::size_t offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      column = 1;
    } else if ((c & 0xC0) != 0x80) {
      ++column;  // continuation bytes belong to the character already counted
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

namespace {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A key as it appears in an error: JSON-quoted (no line breaks), cut short.
std::string shown(const std::string& key) {
  std::string text = nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 76) + "...\"";
  return text;
}

bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
bool is_ident_part(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
// -v as a 64-bit integer when it is one: down to -2^63, one past the largest
// positive int64 (JSON parsers read -9223372036854775808 as an integer too).
std::optional<std::int64_t> negated(std::uint64_t v) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (v <= kMax) return -static_cast<std::int64_t>(v);
  if (v == kMax + 1) return std::numeric_limits<std::int64_t>::min();
  return std::nullopt;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A recursive-descent reader over the module text. Recursion is bounded by
// max_depth, so hostile nesting ends in an error, never a stack overflow.
class Reader {
 public:
  Reader(std::string_view text, const std::string& where, const JsLimits& limits)
      : text_(text), where_(where), limits_(limits) {}

  nlohmann::json module() {
    if (text_.size() > limits_.max_bytes) {
      fail_at(0, "module larger than " + std::to_string(limits_.max_bytes) + " bytes");
    }
    if (const auto bad = first_invalid_utf8(text_); bad != std::string_view::npos) {
      fail_at(bad, "not valid UTF-8");
    }
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // a byte order mark
    skip_space();
    // An optional "use strict" directive, as editors and linters add.
    if (peek() == '\'' || peek() == '"') {
      const std::size_t at = pos_;
      const std::string directive = quoted_string();
      if (directive != "use strict") fail_at(at, "expected `module.exports = {` or `export default {`");
      skip_space();
      if (peek() == ';') ++pos_;
      skip_space();
    }
    const std::size_t start = pos_;
    const std::string first = identifier();
    if (first == "module") {
      expect('.', "expected `module.exports = {`");
      if (identifier() != "exports") fail_at(start, "expected `module.exports = {`");
      skip_space();
      expect('=', "expected `=` after module.exports");
    } else if (first == "export") {
      skip_space();
      if (identifier() != "default") fail_at(start, "expected `export default {`");
    } else {
      fail_at(start, "expected `module.exports = {` or `export default {` (the module must only export an object literal)");
    }
    skip_space();
    if (peek() != '{') fail_at(pos_, "the export must be an object literal `{...}`");
    nlohmann::json doc = value(0);
    skip_space();
    if (peek() == ';') ++pos_;
    skip_space();
    if (pos_ < text_.size()) fail_at(pos_, "unexpected text after the exported object (only one export statement is allowed)");
    return doc;
  }

 private:
  [[noreturn]] void fail_at(std::size_t offset, const std::string& what) const {
    throw dihya::Error(where_ + ":" + line_column(text_, offset) + ": " + what);
  }

  char peek(std::size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  bool at_end() const { return pos_ >= text_.size(); }

  void expect(char c, const std::string& what) {
    skip_space();
    if (peek() != c) fail_at(pos_, what);
    ++pos_;
  }

  void skip_space() {
    while (!at_end()) {
      const char c = peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
        ++pos_;
      } else if (c == '/' && peek(1) == '/') {
        while (!at_end() && peek() != '\n') ++pos_;
      } else if (c == '/' && peek(1) == '*') {
        const std::size_t close = text_.find("*/", pos_ + 2);
        if (close == std::string_view::npos) fail_at(pos_, "unterminated /* comment");
        pos_ = close + 2;
      } else {
        return;
      }
    }
  }

  std::string identifier() {
    skip_space();
    const std::size_t start = pos_;
    if (!is_ident_start(peek())) return {};
    while (is_ident_part(peek())) ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }

  nlohmann::json value(int depth) {
    skip_space();
    const std::size_t start = pos_;
    const char c = peek();
    if (c == '{' || c == '[') {
      if (depth >= limits_.max_depth) fail_at(start, "nested more than " + std::to_string(limits_.max_depth) + " levels");
      return c == '{' ? object(depth + 1) : array(depth + 1);
    }
    if (c == '\'' || c == '"') return quoted_string();
    if (c == '`') return template_string();
    if (c == '.' && peek(1) == '.' && peek(2) == '.') fail_at(start, "spread `...` is not allowed");
    if (is_digit(c) || c == '.' || c == '-' || c == '+') return number();
    if (c == '(') fail_at(start, "parentheses are not allowed (arrow functions and expressions are code; only literals are accepted)");
    if (is_ident_start(c)) {
      const std::string word = identifier();
      if (word == "true") return true;
      if (word == "false") return false;
      if (word == "null") return nullptr;
      if (word == "function" || word == "async" || word == "class") fail_at(start, "`" + word + "` is not allowed: templates are data, code is never run");
      if (word == "new") fail_at(start, "`new` is not allowed: templates are data, code is never run");
      skip_space();
      if (peek() == '(' || peek() == '`') fail_at(start, "function call `" + word + "(...)` is not allowed: code is never run");
      if (peek() == '=' && peek(1) == '>') fail_at(start, "arrow function is not allowed: code is never run");
      fail_at(start, "identifier `" + word + "` is not a value: only literals (strings, numbers, true, false, null, objects, arrays) are accepted");
    }
    if (at_end()) fail_at(start, "unexpected end of file, expected a value");
    fail_at(start, "unexpected character, expected a value");
  }

  // After a value inside an object or array: anything but `,` or the closer is
  // an expression (a + b, a.b, f(x)...) and refused as such.
  void after_value(char closer) {
    skip_space();
    const char c = peek();
    if (c == ',' || c == closer) return;
    if (at_end()) fail_at(pos_, std::string("unexpected end of file, expected `,` or `") + closer + "`");
    if (c == '(') fail_at(pos_, "function call is not allowed: code is never run");
    fail_at(pos_, std::string("expected `,` or `") + closer + "` (expressions and operators are not allowed, only literals)");
  }

  nlohmann::json object(int depth) {
    ++pos_;  // {
    nlohmann::json out = nlohmann::json::object();
    while (true) {
      skip_space();
      if (peek() == '}') {
        ++pos_;
        return out;
      }
      const std::size_t key_at = pos_;
      const std::string key = property_key();
      skip_space();
      if (peek() == '(') fail_at(pos_, "methods are not allowed: code is never run");
      if (peek() == ',' || peek() == '}') fail_at(key_at, "shorthand property " + shown(key) + " is not allowed: write `key: value`");
      if (peek() != ':') fail_at(pos_, "expected `:` after key");
      ++pos_;
      if (key == "__proto__") fail_at(key_at, "key `__proto__` is not allowed (JS would set the prototype, not a key)");
      if (out.contains(key)) fail_at(key_at, "duplicate key " + shown(key));
      out[key] = value(depth);
      after_value('}');
      if (peek() == ',') ++pos_;
    }
  }

  std::string property_key() {
    const char c = peek();
    if (c == '\'' || c == '"') return quoted_string();
    if (c == '[') fail_at(pos_, "computed keys `[...]` are not allowed");
    if (c == '.' && peek(1) == '.' && peek(2) == '.') fail_at(pos_, "spread `...` is not allowed");
    if (c == '`') fail_at(pos_, "a template string cannot be a key: quote it with ' or \"");
    if (is_ident_start(c)) {
      const std::size_t start = pos_;
      const std::string word = identifier();
      skip_space();
      if ((word == "get" || word == "set" || word == "async") && is_ident_start(peek())) {
        fail_at(start, "getters, setters and methods are not allowed: code is never run");
      }
      return word;
    }
    if (is_digit(c)) fail_at(pos_, "numeric keys are not accepted: quote the key");
    if (at_end()) fail_at(pos_, "unexpected end of file, expected a key or `}`");
    fail_at(pos_, "expected a key or `}`");
  }

  nlohmann::json array(int depth) {
    ++pos_;  // [
    nlohmann::json out = nlohmann::json::array();
    while (true) {
      skip_space();
      if (peek() == ']') {
        ++pos_;
        return out;
      }
      if (peek() == ',') fail_at(pos_, "holes in arrays are not allowed");
      if (peek() == '.' && peek(1) == '.' && peek(2) == '.') fail_at(pos_, "spread `...` is not allowed");
      out.push_back(value(depth));
      after_value(']');
      if (peek() == ',') ++pos_;
    }
  }

  std::uint32_t hex_digits(std::size_t count) {
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < count; ++k) {
      const int h = hex_value(peek());
      if (h < 0) fail_at(pos_, "invalid hexadecimal escape");
      v = v * 16 + static_cast<std::uint32_t>(h);
      ++pos_;
    }
    return v;
  }

  // \u escapes, pairing surrogates; a lone surrogate cannot be UTF-8.
  std::uint32_t unicode_escape(std::size_t escape_at) {
    std::uint32_t cp = 0;
    if (peek() == '{') {
      ++pos_;
      std::size_t digits = 0;
      while (peek() != '}') {
        const int h = hex_value(peek());
        if (h < 0 || ++digits > 6) fail_at(escape_at, "invalid \\u{...} escape");
        cp = cp * 16 + static_cast<std::uint32_t>(h);
        ++pos_;
      }
      ++pos_;
      if (digits == 0 || cp > 0x10FFFF) fail_at(escape_at, "invalid \\u{...} escape");
    } else {
      cp = hex_digits(4);
    }
    if (cp >= 0xD800 && cp <= 0xDBFF && peek() == '\\' && peek(1) == 'u') {
      const std::size_t save = pos_;
      pos_ += 2;
      const std::uint32_t low = peek() == '{' ? 0 : hex_digits(4);
      if (low >= 0xDC00 && low <= 0xDFFF) return 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      pos_ = save;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) fail_at(escape_at, "lone surrogate escape (not valid UTF-8)");
    return cp;
  }

  // One escape after a backslash (pos_ is on the character after it).
  void escape(std::string& out, bool in_template) {
    const std::size_t at = pos_ - 1;
    const char c = peek();
    ++pos_;
    switch (c) {
      case 'n': out.push_back('\n'); return;
      case 't': out.push_back('\t'); return;
      case 'r': out.push_back('\r'); return;
      case 'b': out.push_back('\b'); return;
      case 'f': out.push_back('\f'); return;
      case 'v': out.push_back('\v'); return;
      case 'x': append_utf8(out, hex_digits(2)); return;
      case 'u': append_utf8(out, unicode_escape(at)); return;
      case '\r':
        if (peek() == '\n') ++pos_;
        return;  // line continuation
      case '\n': return;
      default: break;
    }
    if (c == '0' && !is_digit(peek())) {
      out.push_back('\0');
      return;
    }
    if (is_digit(c)) fail_at(at, in_template ? "octal escapes are not allowed in template strings" : "octal escapes are not allowed");
    --pos_;
    // Any other character escapes to itself (\' \" \\ \` \$ \/ ...).
    const std::size_t len = utf8_length(static_cast<unsigned char>(c));
    out.append(text_.substr(pos_, len));
    pos_ += len;
  }

  static std::size_t utf8_length(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    return 4;
  }

  std::string quoted_string() {
    const std::size_t start = pos_;
    const char quote = peek();
    ++pos_;
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated string");
      const char c = peek();
      if (c == quote) {
        ++pos_;
        return out;
      }
      if (c == '\n' || c == '\r') fail_at(start, "unterminated string (use \\n or a `template string` for several lines)");
      ++pos_;
      if (c == '\\') {
        if (at_end()) fail_at(start, "unterminated string");
        escape(out, false);
      } else {
        out.push_back(c);
      }
    }
  }

  std::string template_string() {
    const std::size_t start = pos_;
    ++pos_;
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated template string");
      const char c = peek();
      if (c == '`') {
        ++pos_;
        return out;
      }
      if (c == '$' && peek(1) == '{') fail_at(pos_, "template substitution `${...}` is not allowed: code is never run (write \\${ for a literal ${)");
      ++pos_;
      if (c == '\\') {
        if (at_end()) fail_at(start, "unterminated template string");
        escape(out, true);
      } else if (c == '\r') {
        // JS reads CR and CRLF inside template strings as LF.
        if (peek() == '\n') ++pos_;
        out.push_back('\n');
      } else {
        out.push_back(c);
      }
    }
  }

  nlohmann::json number() {
    const std::size_t start = pos_;
    bool negative = false;
    if (peek() == '+' || peek() == '-') {
      negative = peek() == '-';
      ++pos_;
    }
    if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
      pos_ += 2;
      std::uint64_t v = 0;
      std::size_t digits = 0;
      for (int h; (h = hex_value(peek())) >= 0; ++pos_, ++digits) {
        if (v > (std::numeric_limits<std::uint64_t>::max() >> 4)) fail_at(start, "hexadecimal number too large");
        v = v * 16 + static_cast<std::uint64_t>(h);
      }
      if (digits == 0) fail_at(start, "invalid hexadecimal number");
      end_of_number(start);
      if (!negative) return v;
      const auto n = negated(v);
      if (!n) fail_at(start, "number too large");
      return *n;
    }
    const std::size_t digits_at = pos_;
    std::size_t int_digits = 0, frac_digits = 0;
    bool is_float = false;
    while (is_digit(peek())) ++pos_, ++int_digits;
    if (int_digits > 1 && text_[digits_at] == '0') fail_at(start, "leading zeros (legacy octal) are not allowed");
    if (peek() == '.') {
      is_float = true;
      ++pos_;
      while (is_digit(peek())) ++pos_, ++frac_digits;
    }
    if (int_digits + frac_digits == 0) {
      if (text_.substr(digits_at, 8) == "Infinity") fail_at(start, "Infinity is not a JSON value");
      fail_at(start, "invalid number");
    }
    if (peek() == 'e' || peek() == 'E') {
      is_float = true;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit(peek())) fail_at(start, "invalid exponent");
      while (is_digit(peek())) ++pos_;
    }
    end_of_number(start);
    const std::string digits(text_.substr(digits_at, pos_ - digits_at));
    if (!is_float) {
      std::uint64_t v = 0;
      const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (r.ec == std::errc()) {
        if (!negative) return v;
        if (const auto n = negated(v)) return *n;
      }
      // Out of 64-bit range: a double, as JSON parsers do.
    }
    // from_chars wants digits first: give it "0.5" for ".5" and "5.0" for "5.".
    std::string normal = digits;
    if (normal.front() == '.') normal.insert(0, "0");
    const std::size_t dot = normal.find('.');
    if (dot != std::string::npos && (dot + 1 == normal.size() || !is_digit(normal[dot + 1]))) normal.insert(dot + 1, "0");
    double d = 0;
    const auto r = std::from_chars(normal.data(), normal.data() + normal.size(), d);
    if (r.ec != std::errc() || d == std::numeric_limits<double>::infinity()) fail_at(start, "number out of range");
    return negative ? -d : d;
  }

  void end_of_number(std::size_t start) {
    const char c = peek();
    if (c == 'n') fail_at(start, "BigInt literals are not allowed");
    if (c == '_') fail_at(start, "numeric separators `_` are not allowed");
    if (is_ident_part(c) || c == '.') fail_at(start, "invalid number");
  }

  std::string_view text_;
  const std::string& where_;
  JsLimits limits_;
  std::size_t pos_ = 0;
};

// ---- writer ---------------------------------------------------------------

bool plain_key(const std::string& key) {
  if (key.empty() || !is_ident_start(key[0])) return false;
  for (char c : key) {
    if (!is_ident_part(c)) return false;
  }
  return true;
}

void append_u_escape(std::string& out, std::uint32_t cp) {
  static const char* const kHex = "0123456789abcdef";
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHex[(cp >> shift) & 0xF]);
}

// One string in '...' (single line) or `...` (several lines) with exactly the
// escapes Reader undoes.
void write_string(std::string& out, const std::string& s, bool allow_template = true) {
  const bool multi_line = allow_template && s.find('\n') != std::string::npos;
  out.push_back(multi_line ? '`' : '\'');
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (multi_line && c == '`') {
      out += "\\`";
    } else if (multi_line && c == '$' && i + 1 < s.size() && s[i + 1] == '{') {
      out += "\\$";
    } else if (!multi_line && c == '\'') {
      out += "\\'";
    } else if (c == '\n' && multi_line) {
      out.push_back('\n');
    } else if (c == '\t') {
      // Kept raw in template literals (Makefiles), escaped on one line.
      out += multi_line ? "\t" : "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 || u == 0x7F) {
      append_u_escape(out, u);
    } else if (u == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      // U+2028 / U+2029 end lines in older JS engines and editors.
      append_u_escape(out, static_cast<unsigned char>(s[i + 2]) == 0xA8 ? 0x2028 : 0x2029);
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  out.push_back(multi_line ? '`' : '\'');
}

bool is_scalar_list(const nlohmann::json& j) {
  std::size_t width = 0;
  for (const auto& v : j) {
    if (v.is_structured()) return false;
    if (v.is_string() && v.get_ref<const std::string&>().find('\n') != std::string::npos) return false;
    width += v.dump().size() + 2;
  }
  return width <= 72;
}

void write_value(std::string& out, const nlohmann::json& j, int indent);

void write_scalar(std::string& out, const nlohmann::json& j) {
  if (j.is_string()) {
    write_string(out, j.get_ref<const std::string&>());
  } else {
    out += j.dump();  // numbers, true, false, null: the JSON spelling is JS
  }
}

void write_value(std::string& out, const nlohmann::json& j, int indent) {
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  if (j.is_object()) {
    if (j.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    for (const auto& [key, value] : j.items()) {
      if (key == "__proto__") throw dihya::Error("key __proto__ cannot be written as a JS object literal key");
      out += pad;
      if (plain_key(key)) {
        out += key;
      } else {
        write_string(out, key, false);
      }
      out += ": ";
      write_value(out, value, indent + 2);
      out += ",\n";
    }
    out.append(static_cast<std::size_t>(indent), ' ');
    out += "}";
  } else if (j.is_array()) {
    if (j.empty()) {
      out += "[]";
    } else if (is_scalar_list(j)) {
      out += "[";
      bool first = true;
      for (const auto& v : j) {
        if (!first) out += ", ";
        first = false;
        write_scalar(out, v);
      }
      out += "]";
    } else {
      out += "[\n";
      for (const auto& v : j) {
        out += pad;
        write_value(out, v, indent + 2);
        out += ",\n";
      }
      out.append(static_cast<std::size_t>(indent), ' ');
      out += "]";
    }
  } else {
    write_scalar(out, j);
  }
}

}  // namespace

nlohmann::json parse_js_module(std::string_view text, const std::string& where, const JsLimits& limits) {
  return Reader(text, where, limits).module();
}

std::string write_js_module(const nlohmann::json& doc) {
  std::string out = "module.exports = ";
  write_value(out, doc, 0);
  out += ";\n";
  return out;
}

}  // namespace import_templates
