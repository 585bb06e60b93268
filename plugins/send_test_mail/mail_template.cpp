// SPDX-License-Identifier: AGPL-3.0-or-later
#include "mail_template.hpp"

#include <vector>

#include <dihya/bounded_mustache.hpp>
#include <kainjow/mustache.hpp>

namespace send_test_mail {
namespace {

namespace mustache = kainjow::mustache;

// Four times the largest body: a step is a tag, a word, a blank or a list
// item, so any text within the size limit fits, and sections nested over
// long lists that render nothing still end within a second.
constexpr std::size_t kMaxRenderSteps = std::size_t{16} << 20;
constexpr int kMaxSectionDepth = 100;

std::string size_text(std::size_t bytes) {
  if (bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  return std::to_string(bytes) + " bytes";
}

mustache::data to_data(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      mustache::data object{mustache::data::type::object};
      for (const auto& [key, item] : value.items()) object.set(key, to_data(item));
      return object;
    }
    case nlohmann::json::value_t::array: {
      mustache::data list{mustache::data::type::list};
      for (const auto& item : value) list.push_back(to_data(item));
      return list;
    }
    case nlohmann::json::value_t::string:
      return mustache::data(value.get<std::string>());
    case nlohmann::json::value_t::boolean:
      return mustache::data(value.get<bool>());
    case nlohmann::json::value_t::null:
      return mustache::data(false);
    default:
      return mustache::data(value.dump());
  }
}

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return {};
  const auto end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

bool has_variable(const nlohmann::json& variables, const std::string& dotted) {
  const nlohmann::json* at = &variables;
  std::size_t start = 0;
  for (;;) {
    const auto dot = dotted.find('.', start);
    const std::string key = dotted.substr(start, dot == std::string::npos ? dot : dot - start);
    if (!at->is_object() || !at->contains(key)) return false;
    at = &(*at)[key];
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

// The names of variables used outside any section: inside a section the
// context may be a list item, which only rendering knows. Sets `error` for
// what this checker cannot follow (partials, delimiter changes).
std::vector<std::string> top_level_variables(const std::string& source, std::string* error) {
  std::vector<std::string> names;
  int depth = 0;
  std::size_t at = 0;
  while ((at = source.find("{{", at)) != std::string::npos) {
    const bool triple = source.compare(at, 3, "{{{") == 0;
    const std::string close = triple ? "}}}" : "}}";
    const auto end = source.find(close, at + (triple ? 3 : 2));
    if (end == std::string::npos) {
      *error = "an unclosed {{ tag";
      return {};
    }
    std::string tag = trim(source.substr(at + (triple ? 3 : 2), end - at - (triple ? 3 : 2)));
    at = end + close.size();
    if (tag.empty()) continue;
    const char sigil = triple ? '&' : tag[0];
    if (!triple && (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!' || sigil == '>' || sigil == '=' ||
                    sigil == '&')) {
      tag = trim(tag.substr(1));
    }
    switch (sigil) {
      case '#': case '^':
        // kainjow parses and renders sections recursively: 50000 levels overflow the stack.
        if (++depth > kMaxSectionDepth) {
          *error = "sections nested more than " + std::to_string(kMaxSectionDepth) + " levels";
          return {};
        }
        break;
      case '/': --depth; break;
      case '!': break;
      case '>': *error = "partials ({{> name}}) are not supported"; return {};
      case '=': *error = "delimiter changes ({{=...=}}) are not supported"; return {};
      default:
        if (depth == 0 && tag != ".") names.push_back(tag);
    }
  }
  return names;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

bool render_template(const std::string& source, const nlohmann::json& variables, bool escape, std::size_t max_bytes,
                     std::string* out, std::string* error) {
  std::string problem;
  for (const auto& name : top_level_variables(source, &problem)) {
    if (!has_variable(variables, name)) {
      *error = "variable '" + name + "' is used but not given in variables";
      return false;
    }
  }
  if (!problem.empty()) {
    *error = problem;
    return false;
  }
  dihya::BoundedMustache tmpl{source};
  if (!tmpl.is_valid()) {
    *error = "invalid mustache template: " + tmpl.error_message();
    return false;
  }
  if (escape) {
    tmpl.set_custom_escape([](const std::string& s) { return html_escape(s); });
  } else {
    tmpl.set_custom_escape([](const std::string& s) { return s; });
  }
  std::size_t steps = kMaxRenderSteps;
  switch (tmpl.render(to_data(variables.is_object() ? variables : nlohmann::json::object()), max_bytes, &steps, out)) {
    case dihya::BoundedMustache::Outcome::kRendered:
      return true;
    case dihya::BoundedMustache::Outcome::kTooLarge:
      *error = "the template renders more than " + size_text(max_bytes) + " (rendering stopped there)";
      return false;
    case dihya::BoundedMustache::Outcome::kTooMuchWork:
      *error = "the template takes more than " + std::to_string(kMaxRenderSteps) +
               " steps to render (sections nested over long lists?); rendering stopped there";
      return false;
    case dihya::BoundedMustache::Outcome::kFailed:
      break;
  }
  *error = "template rendering failed: " + tmpl.error_message();
  return false;
}

}  // namespace send_test_mail
