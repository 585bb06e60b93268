// SPDX-License-Identifier: AGPL-3.0-or-later
#include "names.hpp"

#include <algorithm>
#include <cstdint>
#include <set>

#include <nlohmann/json.hpp>

namespace generate_project {
namespace {

// Decodes the code point at s[i] (valid UTF-8) and advances i.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
  std::uint32_t cp = len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
  if (len == 1 || i + len > s.size()) {
    ++i;
    return 0xFFFD;
  }
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3Fu);
  i += len;
  return cp;
}

// ASCII spelling of the Latin-1 and Latin Extended-A letters French and the
// other western languages use; nullptr for anything else.
const char* fold_latin(std::uint32_t cp) {
  if (cp >= 0xC0 && cp <= 0xFF) {
    static const char* const kLatin1[64] = {
        "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
        "D", "N", "O", "O", "O", "O", "O", nullptr, "O", "U", "U", "U", "U", "Y", "TH", "ss",
        "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
        "d", "n", "o", "o", "o", "o", "o", nullptr, "o", "u", "u", "u", "u", "y", "th", "y"};
    return kLatin1[cp - 0xC0];
  }
  switch (cp) {
    case 0x152: return "OE";
    case 0x153: return "oe";
    case 0x178: return "Y";
    case 0x160: return "S";
    case 0x161: return "s";
    case 0x17D: return "Z";
    case 0x17E: return "z";
    case 0x2019: return "'";  // typographic apostrophe: "l\u2019API"
    default: break;
  }
  return nullptr;
}

// Words of the programming languages; SQL key words are kept apart because
// singular names (variables, classes) never become SQL identifiers.
const std::set<std::string>& reserved_words() {
  static const std::set<std::string> kWords = {
      // Python keywords and names a generated module must not shadow.
      "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif", "else",
      "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal", "not",
      "or", "pass", "raise", "return", "try", "while", "with", "yield", "none", "true", "false", "match",
      "case", "self", "cls", "print", "object", "str", "int", "float", "bool", "list", "dict", "set", "type",
      "len", "id", "input", "open", "super", "property", "staticmethod", "classmethod",
      // JavaScript reserved words and globals.
      "catch", "const", "debugger", "default", "delete", "do", "enum", "export", "extends", "function",
      "implements", "instanceof", "interface", "let", "new", "null", "package", "private", "protected",
      "public", "static", "switch", "this", "throw", "typeof", "var", "void", "arguments", "eval",
      "undefined", "nan", "infinity", "constructor", "prototype", "proto", "hasownproperty", "tostring",
      "valueof", "require", "module", "exports", "process", "window", "document", "console", "globalthis",
      // Solidity reserved words and globals.
      "abstract", "address", "after", "alias", "anonymous", "apply", "auto", "byte", "bytes", "calldata",
      "constant", "copyof", "define", "emit", "event", "external", "fallback", "final", "fixed", "gwei",
      "hex", "immutable", "indexed", "inline", "internal", "library", "macro", "mapping", "memory",
      "modifier", "mutable", "of", "override", "partial", "payable", "pragma", "promise", "pure", "receive",
      "reference", "relocatable", "returns", "sealed", "sizeof", "storage", "string", "struct", "supports",
      "typedef", "ufixed", "uint", "unchecked", "view", "virtual", "wei", "ether", "seconds", "minutes",
      "hours", "days", "weeks", "years", "block", "msg", "tx", "now", "selfdestruct", "revert", "assert",
      "keccak256", "sha256", "ecrecover", "contract", "bool", "int256", "uint256", "this", "assembly", "unicode",
      "error", "transient", "layout", "using", "szabo", "finney",
      // (the sized type names, int8..uint256, bytes1..32, fixed/ufixedMxN: is_solidity_type_name)
      // Names the generated layout uses itself.
      "app", "config", "test", "tests", "main", "api", "static", "templates", "node_modules", "admin",
      "health", "db", "models", "routes", "server", "store", "auth", "login", "token", "tokens", "utils"};
  return kWords;
}

const std::set<std::string>& sql_words() {
  static const std::set<std::string> kWords = {
      // PostgreSQL reserved key words.
      "all", "analyse", "analyze", "any", "array", "asc", "asymmetric", "both", "cast", "check", "collate",
      "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time",
      "current_timestamp", "current_user", "deferrable", "desc", "distinct", "end", "except", "fetch",
      "foreign", "grant", "group", "having", "initially", "intersect", "into", "lateral", "leading", "limit",
      "localtime", "localtimestamp", "offset", "on", "only", "order", "placing", "primary", "references",
      "returning", "select", "session_user", "some", "symmetric", "table", "then", "to", "trailing", "union",
      "unique", "user", "using", "variadic", "when", "where", "window", "authorization", "binary",
      "collation", "concurrently", "cross", "current_schema", "freeze", "full", "ilike", "inner", "isnull",
      "join", "left", "like", "natural", "notnull", "outer", "overlaps", "right", "similar", "tablesample",
      "verbose", "values", "index", "key"};
  return kWords;
}

// Solidity's sized elementary type names, reserved too: (u)int8..256 by 8,
// bytes1..32, (u)fixedMxN with M 8..256 by 8 and N 0..80.
bool is_solidity_type_name(const std::string& word) {
  const auto number = [](const std::string& digits, int& value) {
    if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return false;
    value = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    return true;
  };
  const auto bits = [&](const std::string& digits) {
    int v = 0;
    return number(digits, v) && v >= 8 && v <= 256 && v % 8 == 0;
  };
  const auto after = [&](const char* prefix, std::string& rest) {
    const std::size_t n = std::char_traits<char>::length(prefix);
    if (word.compare(0, n, prefix) != 0) return false;
    rest = word.substr(n);
    return true;
  };
  std::string rest;
  if (after("uint", rest) || after("int", rest)) return bits(rest);
  if (after("bytes", rest)) {
    int v = 0;
    return number(rest, v) && v >= 1 && v <= 32;
  }
  if (after("ufixed", rest) || after("fixed", rest)) {
    const std::size_t x = rest.find('x');
    int n = 0;
    return x != std::string::npos && bits(rest.substr(0, x)) && number(rest.substr(x + 1), n) && n <= 80;
  }
  return false;
}

}  // namespace


std::string fold_ascii(std::string_view s, char other) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint32_t cp = next_code_point(s, i);
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (const char* folded = fold_latin(cp)) {
      out += folded;
    } else {
      out.push_back(other);
    }
  }
  return out;
}

std::vector<std::string> split_words(std::string_view s) {
  const std::string ascii = fold_ascii(s);
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < ascii.size(); ++i) {
    const char c = ascii[i];
    const bool lower = c >= 'a' && c <= 'z';
    const bool upper = c >= 'A' && c <= 'Z';
    const bool digit = c >= '0' && c <= '9';
    if (!lower && !upper && !digit) {
      flush();
      continue;
    }
    // camelCase boundary: "orderItems", and "HTTPServer" → http, server.
    if (upper && !word.empty() && i > 0) {
      const char prev = ascii[i - 1];
      const bool prev_lower = (prev >= 'a' && prev <= 'z') || (prev >= '0' && prev <= '9');
      const bool next_lower = i + 1 < ascii.size() && ascii[i + 1] >= 'a' && ascii[i + 1] <= 'z';
      const bool prev_upper = prev >= 'A' && prev <= 'Z';
      if (prev_lower || (prev_upper && next_lower)) flush();
    }
    word.push_back(upper ? static_cast<char>(c - 'A' + 'a') : c);
  }
  flush();
  return words;
}

std::string join_snake(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back('_');
    out += w;
  }
  return out;
}

static std::string capitalised(const std::string& w) {
  std::string out = w;
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = static_cast<char>(out[0] - 'a' + 'A');
  return out;
}

std::string join_camel(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += out.empty() ? w : capitalised(w);
  return out;
}

std::string join_pascal(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += capitalised(w);
  return out;
}

std::string join_title(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back(' ');
    out += capitalised(w);
  }
  return out;
}

namespace {

bool ends_with(const std::string& s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_vowel(char c) { return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'; }

struct Irregular {
  const char* singular;
  const char* plural;
};
const Irregular kIrregular[] = {{"person", "people"}, {"child", "children"}, {"man", "men"},
                                {"woman", "women"},   {"mouse", "mice"},     {"datum", "data"},
                                {"medium", "media"},  {"analysis", "analyses"}, {"index", "indices"}};

// Singular words ending in s; any other final s is a plural, so that
// plural_of(plural_of(x)) == plural_of(x) ("menu" → "menus" → "menus").
const std::set<std::string>& singular_s_words() {
  static const std::set<std::string> kWords = {
      "status", "bus", "campus", "virus", "bonus", "census", "corpus", "genus", "focus", "radius", "cactus",
      "analysis", "basis", "axis", "thesis", "crisis", "diagnosis", "hypothesis", "synopsis", "news", "series",
      "species", "gas", "atlas", "canvas", "alias", "lens", "chassis", "apparatus", "prospectus", "syllabus"};
  return kWords;
}

// Their own plural: "news" is never "newses" (and its singular never "newse").
bool is_invariant(const std::string& w) { return w == "news" || w == "series" || w == "species" || w == "chassis"; }

std::string singular_word(const std::string& w) {
  for (const auto& irr : kIrregular) {
    if (w == irr.plural || w == irr.singular) return irr.singular;
  }
  if (!looks_plural(w)) return w;
  // The plural plural_word gives a singular ending in s: "gases" → "gas", "lenses" → "lens".
  if (ends_with(w, "es") && singular_s_words().count(w.substr(0, w.size() - 2))) return w.substr(0, w.size() - 2);
  if (ends_with(w, "ies") && w.size() > 4) return w.substr(0, w.size() - 3) + "y";
  if (ends_with(w, "uses") && w.size() > 4) return w.substr(0, w.size() - 2);
  if (ends_with(w, "sses") || ends_with(w, "shes") || ends_with(w, "ches") || ends_with(w, "xes") ||
      ends_with(w, "zzes")) {
    return w.substr(0, w.size() - 2);
  }
  return w.substr(0, w.size() - 1);
}

std::string plural_word(const std::string& w) {
  for (const auto& irr : kIrregular) {
    if (w == irr.singular || w == irr.plural) return irr.plural;
  }
  if (looks_plural(w) || is_invariant(w)) return w;
  if (ends_with(w, "y") && w.size() > 1 && !is_vowel(w[w.size() - 2])) return w.substr(0, w.size() - 1) + "ies";
  if (ends_with(w, "s") || ends_with(w, "x") || ends_with(w, "z") || ends_with(w, "ch") || ends_with(w, "sh")) {
    return w + "es";
  }
  return w + "s";
}

std::pair<std::string, std::string> split_last(const std::string& snake) {
  const auto pos = snake.rfind('_');
  if (pos == std::string::npos) return {"", snake};
  return {snake.substr(0, pos + 1), snake.substr(pos + 1)};
}

}  // namespace

bool looks_plural(const std::string& w) {
  for (const auto& irr : kIrregular) {
    if (w == irr.plural) return true;
    if (w == irr.singular) return false;
  }
  if (w.size() < 2 || !ends_with(w, "s") || ends_with(w, "ss")) return false;
  const auto underscore = w.rfind('_');
  return singular_s_words().count(underscore == std::string::npos ? w : w.substr(underscore + 1)) == 0;
}

std::string singular_of(const std::string& snake) {
  auto [head, last] = split_last(snake);
  return head + singular_word(last);
}

std::string plural_of(const std::string& snake) {
  auto [head, last] = split_last(snake);
  return head + plural_word(last);
}

ResourceNames resource_names(const std::string& name) {
  // `name` may carry the reserved-word suffix; derive the other forms from its words.
  const auto plural_words = split_words(name);
  const std::string base = join_snake(plural_words);
  ResourceNames n;
  n.singular = singular_of(base);
  if (n.singular == base) n.singular += "_item";
  const auto singular_words = split_words(n.singular);
  n.js_name = join_camel(singular_words);
  n.js_plural = join_camel(plural_words);
  n.class_name = join_pascal(singular_words);
  n.title = join_title(plural_words);
  n.title_singular = join_title(singular_words);
  if (is_reserved_in_code(n.singular)) n.singular += "_";
  if (is_reserved_in_code(n.js_name)) n.js_name += "_";
  if (is_reserved_in_code(n.js_plural)) n.js_plural += "_";
  if (is_reserved_pascal(n.class_name)) n.class_name += "_";
  return n;
}

bool is_reserved(const std::string& word) { return is_reserved_in_code(word) || sql_words().count(word) > 0; }

bool is_reserved_in_code(const std::string& word) {
  return reserved_words().count(word) > 0 || is_solidity_type_name(word);
}

bool is_reserved_pascal(const std::string& word) {
  static const std::set<std::string> kPascal = {
      "None",  "True",   "False",  "Object", "Array", "String", "Number", "Boolean", "Date",   "Error",
      "Map",   "Set",    "Promise", "Symbol", "Function", "Math", "JSON", "Infinity", "NaN", "Proxy",
      "Reflect", "Intl", "RegExp", "BigInt", "Buffer", "App", "Exception", "Base", "Model", "Test"};
  return kPascal.count(word) > 0;
}

std::string unreserved(const std::string& name) { return is_reserved(name) ? name + "_" : name; }

std::string clean_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  bool space = false;
  while (i < s.size()) {
    const std::size_t start = i;
    const std::uint32_t cp = next_code_point(s, i);
    const bool control = cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0x2028 || cp == 0x2029;
    if (control || cp == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.append(s.substr(start, i - start));
  }
  return out;
}

std::string json_literal(std::string_view s) {
  return nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string js_literal(std::string_view s) {
  const std::string lit = json_literal(s);
  std::string out;
  out.reserve(lit.size());
  for (std::size_t i = 0; i < lit.size(); ++i) {
    if (lit[i] == '<' && i + 1 < lit.size() && lit[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else if (lit.compare(i, 3, "\xE2\x80\xA8") == 0) {
      out += "\\u2028";
      i += 2;
    } else if (lit.compare(i, 3, "\xE2\x80\xA9") == 0) {
      out += "\\u2029";
      i += 2;
    } else {
      out.push_back(lit[i]);
    }
  }
  return out;
}

}  // namespace generate_project
