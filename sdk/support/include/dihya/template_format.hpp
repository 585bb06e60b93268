// SPDX-License-Identifier: AGPL-3.0-or-later
// The template document shared by import_templates (which stores it) and
// generate_project (which renders it): its validation, its canonical text and
// its checksum. One definition, so a template the importer accepts is one the
// generator can render, and both agree on when two templates are the same.
//
//   {"name": "flask-api", "version": "1.0.0", "stack": "flask",
//    "description": "...", "tags": ["backend"],
//    "variables": {"port": {"type": "integer", "default": 5000, "minimum": 1, "maximum": 65535},
//                  "python_version": {"type": "string", "default": "3.11", "format": "tag"}},
//    "files": {"flask-api/app.py": "<mustache>"},
//    "per_resource": {"flask-api/tests/test_{{name}}.py": "<mustache>"}}
//
// Path keys are mustache templates too; `{{...}}` spans are opaque when the raw
// key is checked and every rendered path is checked again with
// safe_relative_path(). Header-only. SDK support (Dihya::templates, links
// OpenSSL::Crypto for SHA-256), not plugin API: no stability promise.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>

#include <dihya/error.hpp>
#include <dihya/sha256.hpp>
#include <dihya/utf8.hpp>
#include <nlohmann/json.hpp>

namespace dihya::templates {

struct Limits {
  std::size_t max_entries = 1000;              // files + per_resource
  std::size_t max_file_bytes = 1 << 20;        // one file's content
  std::size_t max_document_bytes = 8 << 20;    // all keys and strings together
  int max_depth = 64;                          // JSON nesting (guards parsers)
};

using dihya::first_invalid_utf8;
using dihya::valid_utf8;

// Nesting depth of a JSON value, counting stops once past `limit`.
inline int json_depth(const nlohmann::json& j, int limit) {
  if (!j.is_structured()) return 0;
  if (limit <= 0) return 1;
  int deepest = 0;
  for (const auto& child : j) {
    deepest = std::max(deepest, json_depth(child, limit - 1));
    if (deepest >= limit) break;
  }
  return deepest + 1;
}

// A relative, `/`-separated path that stays inside the directory it is joined
// to. `why` (optional) receives the reason when it is not.
inline bool safe_relative_path(std::string_view path, std::string* why) {
  auto fail = [why](const char* reason) {
    if (why != nullptr) *why = reason;
    return false;
  };
  if (path.empty()) return fail("empty path");
  if (path.size() > 1024) return fail("path longer than 1024 bytes");
  if (!valid_utf8(path)) return fail("path is not valid UTF-8");
  if (path.front() == '/') return fail("absolute path");
  for (const char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return fail("control character in path");
    if (c == '\\') return fail("backslash in path (use /)");
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view part =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return fail("empty path component");
    if (part == "..") return fail("path leaves the template (..)");
    if (part == ".") return fail("'.' path component");
    if (part.size() > 255) return fail("path component longer than 255 bytes");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return true;
}

namespace detail {

// PostgreSQL's jsonb holds numbers as numeric, which has no negative zero:
// -0.0 comes back 0.0, so the canonical text writes 0.0 for it too.
inline bool has_negative_zero(const nlohmann::json& j) {
  if (j.is_number_float()) return j.get<double>() == 0.0 && std::signbit(j.get<double>());
  if (!j.is_structured()) return false;
  return std::any_of(j.begin(), j.end(), [](const nlohmann::json& child) { return has_negative_zero(child); });
}

inline void clear_negative_zero(nlohmann::json& j) {
  if (j.is_number_float() && j.get<double>() == 0.0) j = 0.0;
  if (j.is_structured()) {
    for (auto& child : j) clear_negative_zero(child);
  }
}

}  // namespace detail

// The text the checksum is taken of, and the JSON export: what the template
// reads back as from the database.
inline std::string canonical(const nlohmann::json& doc) {
  if (!detail::has_negative_zero(doc)) return doc.dump(2) + "\n";
  nlohmann::json copy = doc;
  detail::clear_negative_zero(copy);
  return copy.dump(2) + "\n";
}

// The one SHA-256 of the SDK (dihya/sha256.hpp), as this namespace has long spelled it.
using ::dihya::sha256_hex;

inline std::string checksum(const nlohmann::json& doc) { return sha256_hex(canonical(doc)); }

namespace detail {

[[noreturn]] inline void reject(const std::string& where, const std::string& what) {
  throw dihya::Error(where + ": " + what);
}

inline std::string key_label(const std::string& section, const std::string& key) {
  // The key is quoted as JSON so a hostile one (control characters, invalid
  // UTF-8) cannot garble the one-line error.
  return section + "[" + nlohmann::json(key).dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) + "]";
}

// Also sums the bytes of every key and string: the document-size limit is
// checked on that sum, which costs nothing more than this walk (a dump of a
// large template is a third of an import's CPU time).
inline void check_strings(const nlohmann::json& j, const std::string& where, std::size_t& bytes) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    bytes += s.size();
    if (!valid_utf8(s)) reject(where, "a string is not valid UTF-8");
    if (s.find('\0') != std::string::npos) reject(where, "a string holds a NUL character");
  } else if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (!valid_utf8(key)) reject(where, "a key is not valid UTF-8");
      if (key.find('\0') != std::string::npos) reject(where, "a key holds a NUL character");
      bytes += key.size();
      check_strings(value, where, bytes);
    }
  } else if (j.is_array()) {
    for (const auto& value : j) check_strings(value, where, bytes);
  }
}

inline void check_name(const nlohmann::json& doc, const char* field, const std::regex& pattern,
                       const char* shape, const std::string& where, bool required = true) {
  if (!doc.contains(field)) {
    if (required) reject(where, std::string("missing \"") + field + "\"");
    return;
  }
  const auto& value = doc.at(field);
  if (!value.is_string() || !std::regex_match(value.get_ref<const std::string&>(), pattern)) {
    reject(where, std::string("\"") + field + "\" must be " + shape);
  }
}

inline void check_path_key(const std::string& key, const std::string& label, const std::string& where) {
  // Mustache spans are opaque here: replaced by a neutral letter, so a
  // closing tag's '/' is not taken for a separator; what they render to is
  // checked again on every rendered path.
  std::string opaque;
  std::size_t i = 0;
  while (i < key.size()) {
    const std::size_t open = key.find("{{", i);
    if (open == std::string::npos) {
      opaque.append(key, i, std::string::npos);
      break;
    }
    const std::size_t close = key.find("}}", open + 2);
    if (close == std::string::npos) reject(where, label + ": unclosed {{ in path");
    opaque.append(key, i, open - i);
    opaque.push_back('x');
    // The raw key is shown in diffs and reports: no control character, even
    // inside a span.
    for (std::size_t k = open; k < close; ++k) {
      const auto c = static_cast<unsigned char>(key[k]);
      if (c < 0x20 || c == 0x7F) reject(where, label + ": control character in path");
    }
    i = close + 2;
  }
  std::string why;
  if (!safe_relative_path(opaque, &why)) {
    reject(where, label + ": " + why);
  }
}

// Whether VALUE (a number; anything else passes) lies within the "minimum"
// and "maximum" a variable's declaration DECL gives, if any.
inline bool within_bounds(const nlohmann::json& decl, const nlohmann::json& value) {
  if (!value.is_number()) return true;
  const double v = value.get<double>();
  if (decl.contains("minimum") && decl.at("minimum").is_number() && v < decl.at("minimum").get<double>()) return false;
  if (decl.contains("maximum") && decl.at("maximum").is_number() && v > decl.at("maximum").get<double>()) return false;
  return true;
}

// What a string variable's "format" allows, for the error that refuses a
// value; nullptr for a format this version does not know.
inline const char* format_shape(const std::string& format) {
  if (format == "tag") return "a version or image tag: letters, digits, '_', '.' and '-', not starting with '.' or '-', at most 128";
  return nullptr;
}

// Whether VALUE (a string; anything else passes) has the "format" a variable's
// declaration DECL gives, if any. A "tag" goes where YAML, a Dockerfile or a
// version constraint reads it bare ("image: postgres:{{var.postgres_version}}"):
// the OCI tag grammar, so no ':', '#' or space can end the value early.
inline bool has_format(const nlohmann::json& decl, const nlohmann::json& value) {
  if (!value.is_string() || !decl.contains("format")) return true;
  static const std::regex kTag("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
  if (decl.at("format") == "tag") return std::regex_match(value.get_ref<const std::string&>(), kTag);
  return false;
}

}  // namespace detail

// Throws dihya::Error "<where>: <what>" for the first problem found.
inline void validate_template(const nlohmann::json& doc, const std::string& where, const Limits& limits = {}) {
  using detail::reject;
  if (!doc.is_object()) reject(where, "a template must be an object");
  if (json_depth(doc, limits.max_depth + 1) > limits.max_depth) {
    reject(where, "nested more than " + std::to_string(limits.max_depth) + " levels");
  }
  std::size_t text_bytes = 0;
  detail::check_strings(doc, where, text_bytes);
  if (text_bytes > limits.max_document_bytes) {
    reject(where, "document larger than " + std::to_string(limits.max_document_bytes) + " bytes");
  }
  static const char* const kKeys[] = {"name", "version", "stack", "description", "tags", "variables", "files",
                                      "per_resource"};
  for (const auto& [key, value] : doc.items()) {
    (void)value;
    if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
      reject(where, "unknown key " + nlohmann::json(key).dump() +
                        " (allowed: name, version, stack, description, tags, variables, files, per_resource)");
    }
  }
  static const std::regex kName("[a-z0-9][a-z0-9._-]{0,63}");
  static const std::regex kVersion("(0|[1-9][0-9]{0,8})\\.(0|[1-9][0-9]{0,8})\\.(0|[1-9][0-9]{0,8})(-[0-9A-Za-z.-]{1,64})?");
  static const std::regex kStack("[a-z0-9][a-z0-9-]{0,31}");
  static const std::regex kTag("[a-z0-9][a-z0-9._-]{0,31}");
  static const std::regex kVariable("[a-z_][a-z0-9_]{0,63}");
  detail::check_name(doc, "name", kName, "lower-case letters, digits, '.', '_' or '-' (at most 64)", where);
  detail::check_name(doc, "version", kVersion, "a version MAJOR.MINOR.PATCH[-pre]", where);
  detail::check_name(doc, "stack", kStack, "lower-case letters, digits or '-' (at most 32)", where);
  if (!doc.contains("description") || !doc.at("description").is_string()) {
    reject(where, "\"description\" must be a string");
  }
  if (doc.at("description").get_ref<const std::string&>().size() > 2000) {
    reject(where, "\"description\" is longer than 2000 bytes");
  }
  if (doc.contains("tags")) {
    const auto& tags = doc.at("tags");
    if (!tags.is_array() || tags.size() > 32) reject(where, "\"tags\" must be a list of at most 32 tags");
    for (const auto& tag : tags) {
      if (!tag.is_string() || !std::regex_match(tag.get_ref<const std::string&>(), kTag)) {
        reject(where, "a tag must be lower-case letters, digits, '.', '_' or '-' (at most 32)");
      }
    }
  }
  if (doc.contains("variables")) {
    const auto& vars = doc.at("variables");
    if (!vars.is_object()) reject(where, "\"variables\" must be an object");
    for (const auto& [name, decl] : vars.items()) {
      const std::string label = detail::key_label("variables", name);
      if (!std::regex_match(name, kVariable)) reject(where, label + ": a variable name is [a-z_][a-z0-9_]*");
      if (!decl.is_object()) reject(where, label + ": must be an object with \"type\"");
      for (const auto& [key, value] : decl.items()) {
        (void)value;
        if (key != "type" && key != "default" && key != "description" && key != "required" && key != "minimum" &&
            key != "maximum" && key != "format") {
          reject(where, label + ": unknown key " + nlohmann::json(key).dump());
        }
      }
      const std::string type = decl.contains("type") && decl.at("type").is_string() ? decl.at("type").get<std::string>() : "";
      if (type != "string" && type != "integer" && type != "number" && type != "boolean") {
        reject(where, label + ": \"type\" must be string, integer, number or boolean");
      }
      if (decl.contains("default")) {
        const auto& d = decl.at("default");
        const bool ok = (type == "string" && d.is_string()) || (type == "integer" && d.is_number_integer()) ||
                        (type == "number" && d.is_number()) || (type == "boolean" && d.is_boolean());
        if (!ok) reject(where, label + ": \"default\" is not a " + type);
      }
      for (const char* bound : {"minimum", "maximum"}) {
        if (!decl.contains(bound)) continue;
        if (type != "integer" && type != "number") reject(where, label + ": \"" + bound + "\" is for an integer or a number");
        if (!decl.at(bound).is_number()) reject(where, label + ": \"" + bound + "\" must be a number");
      }
      if (decl.contains("default") && !detail::within_bounds(decl, decl.at("default"))) {
        reject(where, label + ": \"default\" is outside its minimum and maximum");
      }
      if (decl.contains("format")) {
        if (type != "string") reject(where, label + ": \"format\" is for a string");
        const auto& format = decl.at("format");
        if (!format.is_string() || detail::format_shape(format.get<std::string>()) == nullptr) {
          reject(where, label + ": \"format\" must be \"tag\"");
        }
        if (decl.contains("default") && !detail::has_format(decl, decl.at("default"))) {
          reject(where, label + ": \"default\" is not a " + format.get<std::string>());
        }
      }
      if (decl.contains("description") && !decl.at("description").is_string()) {
        reject(where, label + ": \"description\" must be a string");
      }
      if (decl.contains("required") && !decl.at("required").is_boolean()) {
        reject(where, label + ": \"required\" must be true or false");
      }
    }
  }
  if (!doc.contains("files") || !doc.at("files").is_object()) reject(where, "\"files\" must be an object of path -> content");
  std::size_t entries = 0;
  for (const char* section : {"files", "per_resource"}) {
    if (!doc.contains(section)) continue;
    const auto& files = doc.at(section);
    if (!files.is_object()) reject(where, std::string("\"") + section + "\" must be an object of path -> content");
    for (const auto& [path, content] : files.items()) {
      const std::string label = detail::key_label(section, path);
      detail::check_path_key(path, label, where);
      if (!content.is_string()) reject(where, label + ": content must be a string");
      if (content.get_ref<const std::string&>().size() > limits.max_file_bytes) {
        reject(where, label + ": content larger than " + std::to_string(limits.max_file_bytes) + " bytes");
      }
      if (++entries > limits.max_entries) {
        reject(where, "more than " + std::to_string(limits.max_entries) + " files");
      }
    }
  }
  if (entries == 0) reject(where, "a template needs at least one file");
}

}  // namespace dihya::templates
