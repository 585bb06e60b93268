// SPDX-License-Identifier: AGPL-3.0-or-later
#include "render.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <regex>

#include <dihya/bounded_mustache.hpp>
#include <dihya/error.hpp>
#include <dihya/template_format.hpp>
#include <kainjow/mustache.hpp>

#include "names.hpp"

namespace generate_project {
namespace {

using Mustache = dihya::BoundedMustache;
using Data = kainjow::mustache::data;

constexpr std::size_t kMaxFiles = 20000;
constexpr std::size_t kMaxTotalBytes = std::size_t{512} << 20;
// A path renders into at most what safe_relative_path() accepts.
constexpr std::size_t kMaxPathBytes = 1024;
// For the whole project, paths and files together. A step is a tag, a word,
// a blank or a list item: the largest spec (200 resources of 100 fields) with
// every bundled stack takes 5 million for its 15 MB; sections nested over the
// resources that render nothing end here within seconds, not hours.
constexpr std::size_t kMaxRenderSteps = std::size_t{1} << 27;
// A Kubernetes name is at most 63 characters and the templates append at most
// 12 to the slug ("-express-api"): 51 keeps every name they make valid.
constexpr std::size_t kMaxSlugBytes = 63 - 12;

Data to_data(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      Data d(Data::type::object);
      for (const auto& [k, v] : j.items()) d.set(k, to_data(v));
      return d;
    }
    case nlohmann::json::value_t::array: {
      Data d(Data::type::list);
      for (const auto& v : j) d.push_back(to_data(v));
      return d;
    }
    case nlohmann::json::value_t::boolean:
      return Data(j.get<bool>());
    case nlohmann::json::value_t::string:
      return Data(j.get<std::string>());
    case nlohmann::json::value_t::null:
      return Data(std::string());
    default:
      return Data(j.dump());
  }
}

struct Samples {
  std::string py, js, json;
};

// Sample literals are built from the field's words (ASCII letters and
// digits only), so they need no escaping in any language.
Samples sample(const std::string& type, const std::string& words, bool second) {
  if (type == "integer") return second ? Samples{"7", "7", "7"} : Samples{"42", "42", "42"};
  if (type == "number") return second ? Samples{"7.25", "7.25", "7.25"} : Samples{"19.5", "19.5", "19.5"};
  if (type == "boolean") return second ? Samples{"False", "false", "false"} : Samples{"True", "true", "true"};
  std::string value;
  if (type == "date") value = second ? "2024-02-29" : "2024-01-31";
  else if (type == "email") value = second ? "other@example.com" : "user@example.com";
  else value = (second ? "Updated " : "Sample ") + words;
  return Samples{"'" + value + "'", "'" + value + "'", "\"" + value + "\""};
}

nlohmann::json field_context(const Field& f, std::size_t index, std::size_t count) {
  const auto words = split_words(f.name);
  std::string spaced;
  for (const auto& w : words) spaced += (spaced.empty() ? "" : " ") + w;
  std::string js = join_camel(words);
  if (is_reserved_in_code(js) || js == "id") js += "_";
  const std::string& t = f.type;
  const bool num = t == "number", integer = t == "integer", boolean = t == "boolean";
  const Samples s1 = sample(t, spaced, false), s2 = sample(t, spaced, true);
  nlohmann::json c = {{"name", f.name},
                      {"js_name", js},
                      {"title", join_title(words)},
                      {"type", t},
                      {"required", f.required},
                      {"py_type", num ? "float" : integer ? "int" : boolean ? "bool" : "str"},
                      {"js_type", num || integer ? "number" : boolean ? "boolean" : "string"},
                      {"sql_type", num ? "double precision" : integer ? "bigint" : boolean ? "boolean" : t == "date" ? "date" : "text"},
                      {"sol_type", num || integer ? "int256" : boolean ? "bool" : "string"},
                      {"sample_py", s1.py},
                      {"sample_js", s1.js},
                      {"sample_json", s1.json},
                      {"sample2_py", s2.py},
                      {"sample2_js", s2.js},
                      {"sample2_json", s2.json},
                      {"first", index == 0},
                      {"last", index + 1 == count}};
  for (const char* type : {"string", "text", "integer", "number", "boolean", "date", "email"}) {
    c[std::string("is_") + type] = t == type;
  }
  return c;
}

nlohmann::json resource_context(const Resource& r, std::size_t index, std::size_t count) {
  const ResourceNames n = resource_names(r.name);
  nlohmann::json fields = nlohmann::json::array();
  for (std::size_t i = 0; i < r.fields.size(); ++i) fields.push_back(field_context(r.fields[i], i, r.fields.size()));
  return {{"name", r.name},
          {"singular", n.singular},
          {"class_name", n.class_name},
          {"js_name", n.js_name},
          {"js_plural", n.js_plural},
          {"title", n.title},
          {"title_singular", n.title_singular},
          {"first", index == 0},
          {"last", index + 1 == count},
          {"fields", fields},
          {"has_fields", !fields.empty()}};
}

nlohmann::json project_context(const Spec& spec) {
  // Whole words, with "p" before a leading digit, up to kMaxSlugBytes; a
  // first word longer than that is cut. Words are lower-case letters and
  // digits, so the slug is a DNS-1035 label with no trailing '-'.
  std::vector<std::string> kept;
  std::size_t size = 0;
  for (const auto& w : split_words(spec.name)) {
    if (kept.empty() && w[0] >= '0' && w[0] <= '9') {
      kept.push_back("p");
      size = 1;
    }
    const std::size_t dash = kept.empty() ? 0 : 1;
    if (size + dash + w.size() > kMaxSlugBytes) {
      const bool first = kept.empty() || (kept.size() == 1 && kept[0] == "p" && size == 1);
      if (first) kept.push_back(w.substr(0, kMaxSlugBytes - size - dash));
      break;
    }
    size += dash + w.size();
    kept.push_back(w);
  }
  if (kept.empty()) kept.push_back("project");
  std::string slug, module;
  for (const auto& w : kept) {
    slug += (slug.empty() ? "" : "-") + w;
    module += (module.empty() ? "" : "_") + w;
  }
  if (is_reserved(module)) module += "_";
  std::string class_name = join_pascal(split_words(module));
  if (is_reserved_pascal(class_name)) class_name += "Project";
  return {{"name", spec.name},
          {"slug", slug},
          {"module", module},
          {"class_name", class_name},
          {"description", spec.description},
          {"name_py", json_literal(spec.name)},
          {"name_js", js_literal(spec.name)},
          {"name_json", json_literal(spec.name)},
          {"description_py", json_literal(spec.description)},
          {"description_js", js_literal(spec.description)},
          {"description_json", json_literal(spec.description)}};
}

std::unique_ptr<Mustache> compile(const std::string& text, const std::string& where) {
  if (const std::string problem = Mustache::nesting_problem(text); !problem.empty()) throw dihya::Error(where + ": " + problem);
  auto m = std::make_unique<Mustache>(text);
  if (!m->is_valid()) throw dihya::Error(where + ": " + m->error_message());
  m->set_custom_escape([](const std::string& s) { return s; });
  return m;
}

// Renders at most `max_bytes` (what `limit` names), taking its steps from
// *steps_left: a hostile template fails here, before its text is in memory.
std::string render_one(Mustache& m, const Data& data, std::size_t max_bytes, const std::string& limit,
                       std::size_t* steps_left, const std::string& where) {
  std::string out;
  switch (m.render(data, max_bytes, steps_left, &out)) {
    case Mustache::Outcome::kRendered:
      return out;
    case Mustache::Outcome::kTooLarge:
      throw dihya::Error(where + ": renders more than " + limit + " (rendering stopped there)");
    case Mustache::Outcome::kTooMuchWork:
      throw dihya::Error(where + ": the project takes more than " + std::to_string(kMaxRenderSteps) +
                         " steps to render (sections nested over long lists?); rendering stopped there");
    case Mustache::Outcome::kFailed:
      break;
  }
  throw dihya::Error(where + ": " + m.error_message());
}

bool is_no_file(const std::string& path) {
  // A rendered path with an empty component is a conditional file whose
  // condition is false: "{{#features.docker}}Dockerfile{{/features.docker}}".
  if (path.empty() || path.front() == '/' || path.back() == '/') return true;
  return path.find("//") != std::string::npos;
}

std::string label(const std::string& tmpl, const char* section, const std::string& key) {
  return "template " + tmpl + ": " + section + "[" + json_literal(utf8_prefix(key, 200)) + "]";
}

// The value of every variable template `t` declares: the spec's value
// (type-checked), else the default; a required one without either is an error.
nlohmann::json template_variables(const TemplateChoice& t, const nlohmann::json& given, std::set<std::string>& used) {
  nlohmann::json vars = nlohmann::json::object();
  if (!t.doc.contains("variables")) return vars;
  static const std::regex kSafeString("[A-Za-z0-9 ._:/@+,=#%-]*");
  for (const auto& [name, decl] : t.doc["variables"].items()) {
    const std::string type = decl.value("type", "string");
    const std::string where = "variables." + name + " (template " + t.name + ", " + type + ")";
    if (given.contains(name)) {
      used.insert(name);
      nlohmann::json v = given[name];
      if (type == "number" && v.is_string()) {
        // YAML hands "19.5" over as text.
        try {
          std::size_t end = 0;
          const double d = std::stod(v.get<std::string>(), &end);
          if (end == v.get<std::string>().size() && std::isfinite(d)) v = d;
        } catch (const std::exception&) {
        }
      }
      const bool ok = (type == "string" && v.is_string()) || (type == "integer" && v.is_number_integer()) ||
                      (type == "number" && v.is_number()) || (type == "boolean" && v.is_boolean());
      if (!ok) throw dihya::Error(where + ": " + utf8_prefix(v.dump(), 60) + " is not of type " + type);
      if (!dihya::templates::detail::within_bounds(decl, v)) {
        throw dihya::Error(where + ": " + utf8_prefix(v.dump(), 60) + " is outside " +
                           decl.value("minimum", nlohmann::json("-inf")).dump() + ".." +
                           decl.value("maximum", nlohmann::json("inf")).dump());
      }
      if (v.is_string() && !std::regex_match(v.get<std::string>(), kSafeString)) {
        throw dihya::Error(where + ": only letters, digits, spaces and ._:/@+,=#%- are allowed");
      }
      if (!dihya::templates::detail::has_format(decl, v)) {
        const char* shape = dihya::templates::detail::format_shape(decl.value("format", ""));
        throw dihya::Error(where + ": " + utf8_prefix(v.dump(), 60) + " is not " + (shape ? shape : "of its format"));
      }
      vars[name] = v;
    } else if (decl.contains("default")) {
      vars[name] = decl["default"];
    } else if (decl.value("required", false)) {
      throw dihya::Error(where + ": required; give it in the spec's \"variables\"");
    }
  }
  return vars;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> needed_templates(const Spec& spec) {
  static const std::map<std::string, std::string> kDefaults = {
      {"project", "project-base"}, {"flask", "flask-api"}, {"express", "express-api"}, {"spa", "spa"},
      {"ai", "ai-python"},         {"solidity", "solidity"}, {"devops", "devops"}};
  std::vector<std::string> stacks = {"project"};
  for (const auto& s : spec.stacks) stacks.push_back(s);
  if (spec.docker || spec.ci || spec.kubernetes) stacks.push_back("devops");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& s : stacks) {
    const auto it = spec.templates.find(s);
    out.emplace_back(s, it != spec.templates.end() ? it->second : kDefaults.at(s));
  }
  return out;
}

nlohmann::json build_context(const Spec& spec, const std::string& generator_version) {
  nlohmann::json stacks = nlohmann::json::object();
  for (const auto& s : known_stacks()) {
    stacks[s] = std::find(spec.stacks.begin(), spec.stacks.end(), s) != spec.stacks.end();
  }
  stacks["devops"] = spec.docker || spec.ci || spec.kubernetes;
  const bool jwt = spec.auth == "jwt";
  nlohmann::json features = {{"auth", jwt},
                             {"jwt", jwt},
                             {"database", spec.database != "none"},
                             {"postgresql", spec.database == "postgresql"},
                             {"sqlite", spec.database == "sqlite"},
                             {"admin", spec.admin},
                             {"docker", spec.docker},
                             {"ci", spec.ci},
                             {"kubernetes", spec.kubernetes}};
  nlohmann::json resources = nlohmann::json::array();
  for (std::size_t i = 0; i < spec.resources.size(); ++i) {
    resources.push_back(resource_context(spec.resources[i], i, spec.resources.size()));
  }
  return {{"project", project_context(spec)},
          {"stacks", stacks},
          {"features", features},
          {"resources", resources},
          {"has_resources", !resources.empty()},
          {"generator", {{"version", generator_version}}}};
}

Rendering render_project(const Spec& spec, const std::vector<TemplateChoice>& templates,
                         const std::string& generator_version, const std::function<bool()>& cancelled) {
  Rendering out;
  const nlohmann::json context = build_context(spec, generator_version);
  std::set<std::string> used_variables;
  std::map<std::string, std::string> owner;  // rendered path -> origin
  std::size_t total_bytes = 0;
  std::size_t steps_left = kMaxRenderSteps;
  // What one more file may hold: the rest of the project's 512 MiB.
  auto render_file = [&](Mustache& m, const Data& data, const std::string& where) {
    return render_one(m, data, kMaxTotalBytes - total_bytes, "the 512 MiB a project may hold", &steps_left, where);
  };
  auto render_path = [&](Mustache& m, const Data& data, const std::string& where) {
    return render_one(m, data, kMaxPathBytes, std::to_string(kMaxPathBytes) + " bytes", &steps_left, where);
  };

  // Converted once: only `var` differs between templates.
  std::vector<Data> resource_data;
  for (const auto& r : context["resources"]) resource_data.push_back(to_data(r));
  const Data resource_list = to_data(context["resources"]);
  std::vector<std::pair<std::string, Data>> common;
  for (const char* key : {"project", "stacks", "features", "generator"}) common.emplace_back(key, to_data(context[key]));

  auto add = [&](std::string path, std::string content, const std::string& origin) {
    std::string why;
    if (!dihya::templates::safe_relative_path(path, &why)) {
      throw dihya::Error(origin + ": rendered path " + json_literal(utf8_prefix(path, 200)) + ": " + why);
    }
    const auto [it, inserted] = owner.emplace(path, origin);
    if (!inserted) {
      throw dihya::Error(origin + ": writes " + path + ", already written by " + it->second);
    }
    if (out.files.size() >= kMaxFiles) throw dihya::Error("more than " + std::to_string(kMaxFiles) + " files to write");
    total_bytes += content.size();
    if (total_bytes > kMaxTotalBytes) throw dihya::Error("more than 512 MiB to write");
    const bool script = path.size() > 3 && path.compare(path.size() - 3, 3, ".sh") == 0;
    out.files.push_back(RenderedFile{std::move(path), std::move(content), script ? 0755u : 0644u, origin});
  };

  for (const auto& t : templates) {
    const nlohmann::json vars = template_variables(t, spec.variables, used_variables);
    out.variables[t.name] = vars;
    const Data var = to_data(vars);
    Data base_data(Data::type::object);
    for (const auto& [key, value] : common) base_data.set(key, value);
    base_data.set("resources", resource_list);
    base_data.set("has_resources", Data(!resource_data.empty()));
    base_data.set("var", var);
    // What per_resource sees besides the resource's own keys.
    std::vector<std::pair<std::string, Data>> shared = common;
    shared.emplace_back("var", var);

    if (t.doc.contains("files")) {
      for (const auto& [key, text] : t.doc["files"].items()) {
        if (cancelled()) throw dihya::Error("cancelled");
        const std::string where = label(t.name, "files", key);
        auto path_m = compile(key, where + " (path)");
        const std::string path = render_path(*path_m, base_data, where + " (path)");
        if (is_no_file(path)) continue;
        auto body = compile(text.get<std::string>(), where);
        add(path, render_file(*body, base_data, where), where);
      }
    }
    if (t.doc.contains("per_resource") && !spec.resources.empty()) {
      for (const auto& [key, text] : t.doc["per_resource"].items()) {
        const std::string where = label(t.name, "per_resource", key);
        auto path_m = compile(key, where + " (path)");
        auto body = compile(text.get<std::string>(), where);
        for (std::size_t i = 0; i < resource_data.size(); ++i) {
          if (cancelled()) throw dihya::Error("cancelled");
          Data data = resource_data[i];
          for (const auto& [sk, sv] : shared) data.set(sk, sv);
          const std::string rwhere = where + " for " + spec.resources[i].name;
          const std::string path = render_path(*path_m, data, rwhere + " (path)");
          if (is_no_file(path)) continue;
          add(path, render_file(*body, data, rwhere), rwhere);
        }
      }
    }
  }

  // A file where another file needs a directory: "a" and "a/b".
  for (const auto& [path, origin] : owner) {
    for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      const auto it = owner.find(path.substr(0, slash));
      if (it != owner.end()) {
        throw dihya::Error(origin + ": writes " + path + " but " + it->second + " writes the file " + it->first);
      }
    }
  }
  for (const auto& [name, value] : spec.variables.items()) {
    (void)value;
    if (!used_variables.count(name)) out.ignored_variables.push_back(name);
  }
  std::sort(out.files.begin(), out.files.end(),
            [](const RenderedFile& a, const RenderedFile& b) { return a.path < b.path; });
  return out;
}

}  // namespace generate_project
