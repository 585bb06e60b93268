// SPDX-License-Identifier: AGPL-3.0-or-later
#include "template_files.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include <dihya/bounded_mustache.hpp>
#include <dihya/error.hpp>
#include <dihya/json_text.hpp>
#include <dihya/template_format.hpp>
#include <dihya/utf8.hpp>
#include <kainjow/mustache.hpp>

#include "js_literal.hpp"
#include "template_yaml.hpp"

namespace fs = std::filesystem;

namespace import_templates {

Format parse_format(const std::string& name) {
  if (name == "json") return Format::json;
  if (name == "yaml" || name == "yml") return Format::yaml;
  if (name == "js") return Format::js;
  throw dihya::Error("unknown format '" + name + "' (json, yaml or js)");
}

const char* extension(Format format) {
  switch (format) {
    case Format::json: return "json";
    case Format::yaml: return "yaml";
    case Format::js: return "js";
  }
  return "json";
}

namespace {

bool template_extension(const fs::path& p, Format* format) {
  const std::string ext = p.extension().string();
  if (ext == ".json") *format = Format::json;
  else if (ext == ".yaml" || ext == ".yml") *format = Format::yaml;
  else if (ext == ".js") *format = Format::js;
  else return false;
  return true;
}

bool inside(const fs::path& root, const fs::path& p) {
  auto r = root.begin();
  auto q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (q == p.end() || *q != *r) return false;
  }
  return true;
}

std::string read_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw dihya::Error(file.string() + ": not a regular file");
  const auto size = fs::file_size(file, ec);
  if (ec) throw dihya::Error(file.string() + ": cannot read: " + ec.message());
  if (size > kMaxFileBytes) {
    throw dihya::Error(file.string() + ": larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw dihya::Error(file.string() + ": cannot open");
  std::string text(static_cast<std::size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::size_t>(in.gcount()) != size) throw dihya::Error(file.string() + ": changed while being read");
  return text;
}

nlohmann::json parse_json(const std::string& text, const std::string& where) {
  try {
    return dihya::parse_json_limited(text, dihya::templates::Limits{}.max_depth);
  } catch (const dihya::Error& e) {
    throw dihya::Error(where + ": " + e.what());
  }
}

}  // namespace

nlohmann::json parse_document(const std::string& text, Format format, const std::string& where) {
  if (const auto bad = first_invalid_utf8(text); bad != std::string::npos) {
    throw dihya::Error(where + ":" + line_column(text, bad) + ": not valid UTF-8");
  }
  switch (format) {
    case Format::json: return parse_json(text, where);
    case Format::yaml: return parse_yaml_document(text, where);
    case Format::js: return parse_js_module(text, where);
  }
  return nullptr;
}

std::vector<fs::path> find_template_files(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw dihya::Error(path.string() + ": no such file or directory");
  Format format;
  if (fs::is_regular_file(status)) {
    if (!template_extension(path, &format)) throw dihya::Error(path.string() + ": not a .json, .yaml, .yml or .js file");
    return {path};
  }
  if (!fs::is_directory(status)) throw dihya::Error(path.string() + ": not a file or directory");
  const fs::path root = fs::canonical(path, ec);
  if (ec) throw dihya::Error(path.string() + ": " + ec.message());
  std::vector<fs::path> found;
  // Directory symlinks are not followed (no loops); a symlink to a file is
  // read only when it resolves inside the directory.
  fs::recursive_directory_iterator it(path, fs::directory_options::none, ec), end;
  if (ec) throw dihya::Error(path.string() + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw dihya::Error(path.string() + ": " + ec.message());
    const fs::path entry = it->path();
    if (it->is_symlink(ec)) {
      const fs::path target = fs::weakly_canonical(entry, ec);
      if (ec || !inside(root, target)) {
        throw dihya::Error(entry.string() + ": symlink leaves " + path.string() + " (to " + target.string() + ")");
      }
      if (fs::is_directory(target, ec)) continue;
    } else if (it->is_directory(ec)) {
      continue;
    }
    if (!template_extension(entry, &format)) continue;
    if (!fs::is_regular_file(entry, ec)) throw dihya::Error(entry.string() + ": not a regular file");
    found.push_back(entry);
    if (found.size() > kMaxFiles) throw dihya::Error(path.string() + ": more than " + std::to_string(kMaxFiles) + " template files");
  }
  std::sort(found.begin(), found.end());
  return found;
}

// generate_project compiles every path and content before rendering any: one
// that does not compile would fail every generation, so the import refuses it
// by the same checks (nothing is rendered).
void check_mustache(const nlohmann::json& doc, const std::string& where) {
  auto problem_of = [](const std::string& text) {
    // Every tag opens with "{{" (delimiter changes are refused): most paths have none.
    if (text.find("{{") == std::string::npos) return std::string();
    std::string problem = dihya::BoundedMustache::nesting_problem(text);
    if (problem.empty()) {
      const kainjow::mustache::mustache compiled(text);
      if (!compiled.is_valid()) problem = compiled.error_message();
    }
    return problem;
  };
  for (const char* section : {"files", "per_resource"}) {
    if (!doc.contains(section)) continue;
    for (const auto& [path, content] : doc.at(section).items()) {
      const std::string label = dihya::templates::detail::key_label(section, path);
      std::string problem = problem_of(path);
      if (!problem.empty()) throw dihya::Error(where + ": " + label + " (path): " + dihya::printable(problem, 200));
      problem = problem_of(content.get_ref<const std::string&>());
      if (!problem.empty()) throw dihya::Error(where + ": " + label + ": " + dihya::printable(problem, 200));
    }
  }
}

SourceTemplate load_template_file(const fs::path& file) {
  Format format = Format::json;
  if (!template_extension(file, &format)) throw dihya::Error(file.string() + ": not a .json, .yaml, .yml or .js file");
  const std::string where = file.string();
  SourceTemplate out{where, parse_document(read_file(file), format, where), {}};
  dihya::templates::validate_template(out.doc, where);
  check_mustache(out.doc, where);
  out.checksum = dihya::templates::checksum(out.doc);
  return out;
}

std::vector<SourceTemplate> load_templates(const fs::path& path, std::vector<std::string>& errors) {
  std::vector<SourceTemplate> out;
  std::vector<fs::path> files;
  try {
    files = find_template_files(path);
  } catch (const dihya::Error& e) {
    errors.emplace_back(e.what());
    return out;
  }
  if (files.empty()) errors.push_back(path.string() + ": no .json, .yaml, .yml or .js template file found");
  std::map<std::string, std::string> seen;  // name -> file
  for (const auto& file : files) {
    try {
      auto t = load_template_file(file);
      const std::string name = t.doc.at("name").get<std::string>();
      const auto [at, fresh] = seen.emplace(name, t.file);
      if (!fresh) {
        errors.push_back(t.file + ": template '" + name + "' is also defined in " + at->second);
        continue;
      }
      out.push_back(std::move(t));
    } catch (const dihya::Error& e) {
      errors.emplace_back(e.what());
    } catch (const std::exception& e) {
      errors.push_back(file.string() + ": " + e.what());
    }
  }
  return out;
}

std::string format_document(const nlohmann::json& doc, Format format) {
  switch (format) {
    case Format::json: return dihya::templates::canonical(doc);
    case Format::yaml: return write_yaml_document(doc);
    case Format::js: return write_js_module(doc);
  }
  return {};
}

}  // namespace import_templates
